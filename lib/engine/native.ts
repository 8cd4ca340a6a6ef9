/**
 * PostgreSQL's native path (sails-postgresql), shared by batches and interactive transactions:
 * one BEGIN … COMMIT per engine transaction, the log row written inside it.
 */
import { crashPoint } from '../core/crash-points';
import { isTransactError, TransactError } from '../core/errors';
import { isDecided, storedError } from '../core/log-document';
import { isTransient } from '../store/retrying';
import { ownerToken } from '../protocol/recovery';
import type { TransactionOptions } from '../core/validation';
import type { NativeTransaction, NativeTransactions } from '../store/contract';
import type { LogDocument } from '../core/types';
import { unavailableIfTransient } from '../store/retrying';
import { logFor } from './commit';
import type { EngineContext } from './context';
import type { Idempotency, Reopened } from './idempotency';

export class NativeRunner {
  constructor(
    private readonly ctx: Pick<EngineContext, 'clock' | 'options' | 'models' | 'stats'>,
    private readonly native: NativeTransactions,
    private readonly idempotency: Pick<Idempotency, 'committedNatively'>,
  ) {}

  /**
   * One transaction on the native path: everything, the log row included, in one BEGIN … COMMIT.
   * A keyed one first inserts (or, reopened, takes) its log row, so a concurrent run with the
   * same key waits on that row and then finds the outcome. A keyed refusal that decided something
   * is recorded after the rollback, to be replayed; anything else leaves no trace, and the key may
   * run again.
   */
  async run<T>(
    txId: string,
    mode: LogDocument['mode'],
    options: TransactionOptions,
    print: string | null,
    reopened: Reopened | undefined,
    work: (tx: NativeTransaction, log: LogDocument) => Promise<T>,
    points: 'batch' | 'tx',
  ): Promise<T> {
    const owner = reopened?.owner ?? ownerToken(this.ctx.options.instanceId);
    const keyed = options.idempotencyKey !== undefined;
    const now = this.ctx.clock.now();
    const log: LogDocument = { ...logFor(this.ctx.options, txId, owner, mode, options, now, []), fingerprint: print, epoch: reopened?.epoch ?? 0 };
    let outcome: { value: T } | { refused: unknown } | undefined;
    try {
      outcome = await this.native.run(options.lockTimeoutMs ?? this.ctx.options.lockTimeoutMs, this.ctx.models.knownInfo, async (tx) => {
        if (!keyed) {
          if (points === 'tx') crashPoint('tx:begun');
          outcome = { value: await work(tx, { ...log, state: 'committed', endedAt: Date.now() }) };
          return outcome;
        }
        const held = reopened === undefined ? await tx.claimKey(log) : await tx.holdReopened(txId, owner);
        if (!held) throw new TransactError('in_progress', 'duplicate', { details: { duplicate: true } });
        if (points === 'tx') crashPoint('tx:begun');
        await tx.savepoint();
        try {
          outcome = { value: await work(tx, { ...log, state: 'committed', endedAt: Date.now() }) };
          return outcome;
        } catch (thrown) {
          // A refusal that decided something is kept with the key, in this same transaction, so a
          // concurrent repeat (waiting on the row) finds it; anything else rolls the claim back too.
          // What is kept, and so replayed, is what the log protocol keeps (commit.ts abort): a
          // TransactError's code, message, path and details; any other error is `aborted` (a
          // transient one `unavailable`, which decides nothing). PostgreSQL's own lock refusals
          // are named first: a lock wait that ran out decides nothing either.
          const err = this.native.failure(thrown) ?? thrown;
          const error = storedError(err, isTransient(err) ? 'unavailable' : 'aborted');
          if (!isDecided({ state: 'rolled-back', error })) throw err;
          await tx.rollbackToSavepoint();
          await tx.writeLog({ ...log, state: 'rolled-back', endedAt: Date.now(), error });
          outcome = { refused: err };
          return outcome;
        }
      });
    } catch (err) {
      if (isTransactError(err) && err.details?.duplicate === true) throw err;
      // The COMMIT may have landed with only its reply lost: then this run's outcome stands.
      if (outcome === undefined || !(await this.idempotency.committedNatively(txId, owner, err))) {
        this.ctx.stats.rolledBack++;
        throw unavailableIfTransient(err);
      }
    }
    const decided = outcome as { value: T } | { refused: unknown };
    if ('refused' in decided) {
      this.ctx.stats.rolledBack++;
      throw decided.refused;
    }
    const result = decided.value;
    this.ctx.stats.committed++;
    crashPoint(points === 'batch' ? 'batch:committed' : 'tx:committed');
    crashPoint(points === 'batch' ? 'batch:released' : 'tx:released');
    return result;
  }
}
