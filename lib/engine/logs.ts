/** Reading the transaction log: one transaction's outcome, listings, and an operator's settlement note. */
import { setTimeout as sleep } from 'node:timers/promises';
import { TransactError } from '../core/errors';
import { isTerminal } from '../core/state';
import { nativeLogSearchOn } from '../store';
import { toLogDocument } from '../store/contract';
import type { LogDocument, Settlement, TxError, TxState } from '../core/types';
import type { EngineContext } from './context';
import type { LogCriteria, LogReadOptions } from './options';

export class TransactionLogs {
  constructor(private readonly ctx: Pick<EngineContext, 'store' | 'retries' | 'models'>) {}

  /**
   * What became of a transaction — for a caller that got `outcome_unknown`. While it is still
   * undecided (its owner, or recovery, is on it) this waits up to `waitMs` for the decision.
   */
  /** @param committed given the log when the answer is `committed`, before it is returned (v3: what its owner left is applied). */
  async outcome(txId: string, waitMs = 0, committed: (log: LogDocument) => Promise<void> = async () => undefined): Promise<{ id: string; state: TxState; error: TxError | null }> {
    const deadline = Date.now() + waitMs;
    for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
      const log = await this.ctx.store.getLog(txId);
      if (log === null) throw new TransactError('not_found', `no transaction ${txId}`, { path: 'id' });
      if (log.state === 'committed') await committed(log);
      if (isTerminal(log.state) || Date.now() >= deadline) return { id: log.id, state: log.state, error: log.error };
      await sleep(Math.min(wait, Math.max(0, deadline - Date.now())));
    }
  }

  getLog(id: string): Promise<LogDocument | null> {
    return this.ctx.store.getLog(id);
  }

  /**
   * What Engine.findLogs promises, its doc says (lib/engine/index.ts). With `ignoreCase`, a
   * `contains` matches whatever the case (and its text literally): on sails-disk and sails-mongo
   * by Waterline's `makeLikeModifierCaseInsensitive`, on sails-postgresql (whose `contains` is a
   * case-sensitive LIKE, with `_` a wildcard) by the log's own SQL, `ILIKE`, which its trigram
   * index answers (lib/store/postgres/store.ts findPgLogs).
   */
  async findLogs(criteria: LogCriteria, options: LogReadOptions = {}): Promise<LogDocument[]> {
    const native = options.ignoreCase === true ? nativeLogSearchOn(this.ctx.models.logModel()) : undefined;
    if (native !== undefined) {
      const sort = typeof criteria.sort === 'string' ? undefined : criteria.sort;
      return this.ctx.retries.run(() => native.find({ ...criteria, sort }));
    }
    const rows = await this.ctx.retries.run(async () => {
      const find = this.ctx.models.logModel().find(criteria);
      return options.ignoreCase === true ? find.meta({ makeLikeModifierCaseInsensitive: true }) : find;
    });
    return rows.map(toLogDocument);
  }

  /** What Engine.countLogs promises, its doc says (lib/engine/index.ts). */
  countLogs(where: Record<string, unknown>, options: LogReadOptions = {}): Promise<number> {
    const native = options.ignoreCase === true ? nativeLogSearchOn(this.ctx.models.logModel()) : undefined;
    if (native !== undefined) return this.ctx.retries.run(() => native.count(where));
    return this.ctx.retries.run(async () => {
      const count = this.ctx.models.logModel().count(where);
      return options.ignoreCase === true ? count.meta({ makeLikeModifierCaseInsensitive: true }) : count;
    });
  }

  /** What Engine.recordSettlement promises, its doc says (lib/engine/index.ts). */
  async recordSettlement(txId: string, settlement: Settlement): Promise<boolean> {
    const log = await this.ctx.store.getLog(txId);
    if (log === null || log.state !== 'rolled-back') return false;
    const previous = log.error ?? { code: 'rolled_back_by_operator', message: 'rolled back' };
    const note = `settled by ${settlement.by} at ${new Date(settlement.at).toISOString()}${settlement.reason === null ? '' : `: ${settlement.reason}`}`;
    const error: TxError = { ...previous, message: `${previous.message}; ${note}`.slice(0, 1000), settled: settlement };
    return this.ctx.store.updateLog(txId, { states: ['rolled-back'] }, { error });
  }
}
