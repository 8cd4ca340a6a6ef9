/**
 * Deterministic crash points for the crash-safety harness: when TRANSACT_CRASH_AT names a step
 * (and optionally its occurrence, `batch:applied#2`), the process kills itself with SIGKILL there:
 * no exception, no cleanup, no flushing, exactly like a power cut of the process. With
 * TRANSACT_CRASH_SIGNAL=SIGSTOP it freezes there instead (a GC pause, a VM freeze), until someone
 * sends it SIGCONT. Unset (production), every call is a comparison against undefined.
 */
const target = parseTarget(process.env.TRANSACT_CRASH_AT);
const signal: NodeJS.Signals = process.env.TRANSACT_CRASH_SIGNAL === 'SIGSTOP' ? 'SIGSTOP' : 'SIGKILL';
const seen = new Map<string, number>();

function parseTarget(spec: string | undefined): { point: string; occurrence: number } | undefined {
  if (spec === undefined || spec === '') return undefined;
  const [point, occurrence] = spec.split('#');
  return { point, occurrence: occurrence === undefined ? 1 : Number(occurrence) };
}

/** Every protocol step boundary, in the order a transaction reaches them. */
export const CRASH_POINTS = [
  'batch:locked', 'batch:logged', 'batch:writing', 'batch:applied', 'batch:committed', 'batch:released',
  'tx:begun', 'tx:locked', 'tx:logged', 'tx:applied', 'tx:committed', 'tx:released',
  // The log protocol's commit compare-and-set, about to be sent (past the last lease check).
  'commit:sending',
  'rollback:claimed', 'rollback:undone', 'rollback:ended',
  'rollforward:claimed', 'rollforward:redone', 'rollforward:ended',
  // Log protocol v3 on sails-disk: one document's after-image written, its record not yet moved on.
  'apply:written',
  // Log protocol v3 on sails-mongo: one collection's after-images written (one bulk write), the
  // next collection's not yet: a committed apply cut between two collections.
  'apply:collection',
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export function crashPoint(point: CrashPoint): void {
  if (target === undefined || target.point !== point) return;
  const count = (seen.get(point) ?? 0) + 1;
  seen.set(point, count);
  if (count === target.occurrence) process.kill(process.pid, signal);
}
