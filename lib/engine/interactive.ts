/** Interactive transactions: a callback's writes through `tx`, committed together when it returns. */
import { crashPoint } from '../core/crash-points';
import { TransactError } from '../core/errors';
import { newId } from '../core/ids';
import { Lease } from '../protocol/lease';
import { jsonResult, touchedDocuments } from '../core/log-document';
import { CallerRun, type HookFailure, withOutcomeHooks } from './outcome-hooks';
import { ownerToken } from '../protocol/recovery';
import { type TransactionOptions, validateOptions } from '../core/validation';
import type { ReferenceContext } from './references';
import { LoggedWrites, Transaction } from './transaction';
import { type CommitProtocol, logFor } from './commit';
import type { EngineContext } from './context';
import { type Idempotency, keyedIdOf, type Reopened } from './idempotency';
import type { NativeRunner } from './native';
import { withReruns } from './reruns';
import type { RedoInteractive } from './redo/interactive';
import type { InternalOptions } from './options';

export class InteractiveTransactions {
  constructor(
    private readonly ctx: Pick<EngineContext, 'store' | 'clock' | 'locks' | 'documents' | 'stats' | 'options' | 'models' | 'warn'>,
    private readonly commit: CommitProtocol,
    private readonly idempotency: Pick<Idempotency, 'runOnce'>,
    /** What transactions check references with. */
    private readonly references: ReferenceContext,
    /** PostgreSQL's native path, where the datastore has it. */
    private readonly native: NativeRunner | undefined,
    /** Log protocol v3 (lib/redo), where the datastore runs it. */
    private readonly redo?: RedoInteractive,
  ) {}

  /** What Engine.interactive promises, its doc says (lib/engine/index.ts). */
  async interactive<T>(work: (tx: Transaction) => Promise<T>, rawOptions?: TransactionOptions, internal: InternalOptions = {}): Promise<T> {
    const options = validateOptions(rawOptions);
    if (options.onCrash === 'rollforward') {
      throw new TransactError('validation_failed', 'an interactive transaction can only be rolled back: its operations are code, not data', { path: 'options.onCrash' });
    }
    // The hooks sit outside the retries: only the last run's count, once its outcome is known.
    const run = new CallerRun();
    const tracked = run.track(work);
    const settled = withReruns(options, this.ctx.options.lockTimeoutMs, this.ctx.stats, (once) => this.interactiveOnce(run, tracked, once, internal));
    return withOutcomeHooks(run, settled, (failure) => this.hookFailed(failure));
  }

  /**
   * One run: unkeyed, a new id; keyed, the key's (runOnce: a replay of the key's outcome does not
   * run `work`, and is not `run`'s own outcome — CallerRun.own wraps only the attempts).
   */
  private interactiveOnce<T>(run: CallerRun, work: (tx: Transaction) => Promise<T>, options: TransactionOptions, internal: InternalOptions): Promise<T> {
    const { idempotencyKey, idempotencyScope } = options;
    if (idempotencyKey === undefined) return run.own(() => this.runInteractive(internal.txId ?? newId(), work, options, internal));
    const txId = keyedIdOf({ idempotencyKey, idempotencyScope });
    return this.idempotency.runOnce({ idempotencyKey, idempotencyScope }, null, (log) => log.result as T, (reopened) => run.own(() => this.runInteractive(txId, work, options, internal, reopened)));
  }

  /** A hook that threw: logged and counted; the transaction's outcome stands. */
  private hookFailed({ kind, txId, index, error }: HookFailure): void {
    this.ctx.stats.hookFailures++;
    const outcome = kind === 'afterCommit' ? 'committed' : 'rolled back';
    this.ctx.warn(`transaction ${txId} ${outcome}, but its ${kind} hook #${index + 1} threw; the transaction's outcome stands, the hooks after it ran`, error);
  }

  private async runInteractive<T>(txId: string, work: (tx: Transaction) => Promise<T>, options: TransactionOptions, internal: InternalOptions, reopened?: Reopened): Promise<T> {
    const { models } = this.ctx;
    if (this.redo !== undefined) return this.redo.run(txId, work, options, internal, reopened);
    if (this.native !== undefined) {
      return this.native.run(txId, 'interactive', options, null, reopened, async (native, log) => {
        const tx = new Transaction(txId, { backend: native, infoOf: (identity) => models.infoOf(identity), now: () => Date.now(), references: this.references });
        const result = await tx.run(work);
        // As on the log protocol: a transaction that wrote nothing leaves no log (keyed ones and reversals excepted).
        // endedAt is stamped when the callback is done (just before COMMIT), not when it began: history and drills order by it.
        if (tx.steps.length > 0 || options.idempotencyKey !== undefined || internal.reverses !== undefined) {
          await native.writeLog({ ...log, endedAt: Date.now(), reverses: internal.reverses ?? null, reason: internal.reason ?? null, steps: [...tx.steps], documents: touchedDocuments(tx.steps), result: options.idempotencyKey === undefined ? null : jsonResult(result) });
        }
        return result;
      }, 'tx');
    }
    const lease = new Lease(this.ctx.store, { txId, epoch: reopened?.epoch ?? 0 }, reopened?.owner ?? ownerToken(this.ctx.options.instanceId), this.ctx.options.leaseMs, this.ctx.clock);
    const log = { ...logFor(this.ctx.options, txId, lease.owner, 'interactive', options, lease.leaseUntil, []), reverses: internal.reverses ?? null, reason: internal.reason ?? null };
    // A keyed transaction inserts its log first (that insert is its "at most once"); any other logs
    // at its first write, so one refused before writing (a check that failed, a 409) leaves no
    // trace, and one that wrote nothing commits without a log (a reversal excepted: its log is
    // what the original's reversedBy points to).
    const lazy = options.idempotencyKey === undefined && reopened === undefined;
    if (lazy) lease.deferLog(log);
    else if (reopened === undefined && !(await this.ctx.store.insertLog(log))) throw new TransactError('in_progress', 'duplicate', { details: { duplicate: true } });
    crashPoint('tx:begun');
    const tx = new Transaction(txId, {
      backend: new LoggedWrites(txId, this.ctx.locks, this.ctx.documents, lease, options.lockTimeoutMs ?? this.ctx.options.lockTimeoutMs),
      infoOf: (identity) => models.infoOf(identity),
      now: () => Date.now(),
      references: this.references,
    });
    let result: T | undefined;
    await this.commit.runToCommit(
      lease,
      options.idempotencyKey !== undefined,
      () => [...tx.steps],
      () => (options.idempotencyKey === undefined ? null : jsonResult(result)),
      internal.reverses === undefined,
      async () => {
        result = await tx.run(work);
      },
    );
    this.ctx.stats.committed++;
    crashPoint('tx:committed');
    await this.commit.releaseAfterCommit(lease.fence);
    crashPoint('tx:released');
    return result as T;
  }
}
