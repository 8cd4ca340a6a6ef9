/**
 * Log protocol v3's recovery (docs/protocol-v3.md R7): nothing to compensate. A pending keyed log
 * whose lease ended is rolled back by one compare-and-set; every record whose lock lease ended is
 * settled by R5 — applied for its committed holder, or freed. A stalled recoverer is harmless: its
 * compare-and-set finds the epoch moved, its writes the version.
 */
import type { ServerClock } from '../clock';
import { instanceOf, type RecoverySummary, type SettleOutcome } from '../recovery';
import type { AtomicStore } from '../../store';
import type { LogDocument } from '../../core/types';
import type { RecordLocks } from './locks';
import type { RecordStore } from '../../store/records';
import { rollBackPending } from './rollback';

export interface RedoRecoveryOptions {
  instanceId: string;
  leaseMs: number;
  clockSkewMs: number;
  batchSize: number;
}

export class RedoRecovery {
  constructor(
    private readonly records: RecordStore,
    private readonly logs: AtomicStore,
    private readonly locks: RecordLocks,
    private readonly clock: ServerClock,
    /** The transactional models whose records recovery sweeps. */
    private readonly models: () => readonly string[],
    private readonly options: RedoRecoveryOptions,
    private readonly stats: { recovered: number; rolledBack: number },
    private readonly onFailure: (subject: string, err: unknown) => void = () => undefined,
  ) {}

  /**
   * One pass: expired pending logs, then every model's expired records. On the first pass after a
   * start (`startup`), this instance's own pending logs are an earlier incarnation's: rolled back
   * at once, without waiting for their leases — another instance's only once their lease ended.
   */
  async runOnce(startup = false): Promise<RecoverySummary> {
    const summary: RecoverySummary = { rolledBack: 0, rolledForward: 0, locksReleased: 0, orphans: 0, failed: 0 };
    const now = this.clock.now();
    const horizon = startup ? Number.MAX_SAFE_INTEGER : now - this.options.clockSkewMs;
    for (const log of await this.logs.findExpiredLogs(['pending'], horizon, this.options.batchSize)) {
      try {
        if ((await this.settle(log, startup && this.diedWithUs(log))) === 'rollback') summary.rolledBack++;
      } catch (err) {
        summary.failed++;
        this.onFailure(log.id, err);
      }
    }
    for (const model of this.models()) {
      for (const record of await this.records.findExpired(model, now - this.options.clockSkewMs, this.options.batchSize)) {
        try {
          // R5 decides with the lease as the clock reads it now: a holder renewed meanwhile waits.
          if (await this.locks.settle(record, null)) summary.locksReleased++;
        } catch (err) {
          summary.failed++;
          this.onFailure(`${model} ${record.id}`, err);
        }
      }
    }
    return summary;
  }

  /** Whether a log's owner was this instance (or the datastore serves one process only): then it died with our last incarnation. */
  private diedWithUs(log: LogDocument): boolean {
    return !this.logs.multiProcess || instanceOf(log.owner) === this.options.instanceId;
  }

  /** Rolls back a pending log whose lease is over (at once with `ignoreLease`): one compare-and-set at the next epoch. */
  async settle(log: LogDocument, ignoreLease: boolean): Promise<SettleOutcome> {
    if (log.state !== 'pending') return 'release-locks';
    if (!ignoreLease && log.leaseUntil + this.options.clockSkewMs >= this.clock.now()) return 'wait';
    if (!(await rollBackPending(this.logs, log, this.clock.now()))) return 'lost';
    this.stats.recovered++;
    this.stats.rolledBack++;
    return 'rollback';
  }
}
