/**
 * The checks of a payment or an order (by the dropped-orders job or an admin), recorded on the
 * item itself: one way, through the engine, under the item's lock.
 */
import type { FundApp } from './app';
import type { Attempt, Order, Payment } from './domain';

/** The last this many checks are kept on an item. */
export const KEEP_ATTEMPTS = 50;

export type TrackedKind = 'payment' | 'order';

export interface RecordOptions {
  /** Fields set with the attempt, when `onlyIf` allows. */
  set?: Record<string, unknown>;
  /** Read under the lock: false records the attempt only, without `set` (or, with `refusedWritesNothing`, nothing). */
  onlyIf?: (current: Payment | Order) => boolean;
  /** A refusal by `onlyIf` writes nothing at all (an admin's action refused), rather than the attempt alone (the job's checks). */
  refusedWritesNothing?: boolean;
  /** The transaction's label (who recorded it). */
  label: string;
}

/**
 * Appends an attempt to a payment's or order's `attempts` (a locked read, then one update), with
 * `set` when `onlyIf` allows. Resolves whether `set` was applied (false: no such item, or refused).
 */
export function recordAttempt(app: FundApp, kind: TrackedKind, id: string, attempt: Attempt, { set = {}, onlyIf, refusedWritesNothing = false, label }: RecordOptions): Promise<boolean> {
  return app.transact(
    async (tx) => {
      const current = (await tx.read(kind, id)) as Payment | Order | null;
      if (!current) return false;
      const attempts = [...(Array.isArray(current.attempts) ? current.attempts : []), attempt].slice(-KEEP_ATTEMPTS);
      const allowed = onlyIf === undefined || onlyIf(current);
      if (!allowed && refusedWritesNothing) return false;
      await tx.update(kind, id, allowed ? { ...set, attempts } : { attempts });
      return allowed;
    },
    { label: label.slice(0, 200) },
  );
}
