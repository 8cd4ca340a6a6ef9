/**
 * Planning an order over loans, pure: which loans, how much each. No datastore, no app.
 */
import { createHash } from 'node:crypto';
import { fundError } from '../errors';

/** Largest amount accepted, in cents (100 billion): far below Number.MAX_SAFE_INTEGER. */
export const MAX_AMOUNT = 1e13;

/** What planning needs of a loan. */
export interface LoanLike {
  id: string;
  platform: string;
  target: number;
  raised: number;
  status: string;
  createdAt?: number;
}

/** One loan's share of an order. */
export interface Part {
  loan: string;
  platform: string;
  amount: number;
  /** The loan's room before this part: a part that fills it funds the loan. */
  room: number;
  target: number;
}

/** A 24-hex id derived from a key: repeats of a keyed request name the same documents. */
export function derivedId(key: string, purpose: string): string {
  return createHash('sha256').update(`fund:${purpose}:${key}`).digest('hex').slice(0, 24);
}

/** A caller's Idempotency-Key and whose it is: two callers' same key name different documents. */
export interface CallerKey {
  key: string;
  /** Who made it (api/lib/roles `callerOf`): the engine's idempotencyScope. */
  scope: string;
}

/**
 * A 24-hex id derived from a caller's key: its repeats name the same documents, another caller's
 * same key others. (A JSON pair, never the unscoped preimage: `fund:<purpose>:[…` has no key of
 * the fund's, which all start with a word and a colon.)
 */
export function callerDerivedId(caller: CallerKey, purpose: string): string {
  return derivedId(JSON.stringify([caller.scope, caller.key]), purpose);
}

/** The engine options of a keyed movement: its key, namespaced by the movement, in its caller's scope. */
export function keyedOptions(caller: CallerKey | undefined, movement: string): { idempotencyKey?: string; idempotencyScope?: string } {
  return caller === undefined ? {} : { idempotencyKey: `${movement}:${caller.key}`, idempotencyScope: caller.scope };
}

/** Room left in a loan, in cents (never negative). */
export function roomOf(loan: Pick<LoanLike, 'target' | 'raised'>): number {
  return Math.max(0, (loan.target || 0) - (loan.raised || 0));
}

/** Open loans with room, interleaved by platform (platforms sorted by id, loans by createdAt, id). */
export function roundRobin<L extends LoanLike>(loans: readonly L[]): L[] {
  const byPlatform = new Map<string, L[]>();
  const sorted = loans
    .filter((loan) => loan.status === 'open' && roomOf(loan) > 0)
    .sort((a, b) => (a.createdAt || 0) - (b.createdAt || 0) || String(a.id).localeCompare(String(b.id)));
  for (const loan of sorted) {
    const queue = byPlatform.get(loan.platform);
    if (queue === undefined) byPlatform.set(loan.platform, [loan]);
    else queue.push(loan);
  }
  const queues = [...byPlatform.keys()].sort().map((platform) => byPlatform.get(platform) as L[]);
  const out: L[] = [];
  for (let round = 0; out.length < sorted.length; round++) {
    for (const queue of queues) if (round < queue.length) out.push(queue[round]);
  }
  return out;
}

/**
 * Splits `total` over slots with these caps as evenly as the caps allow (water-filling), every
 * slot getting at least 1. Requires caps.length <= total <= sum(caps), caps >= 1.
 */
export function waterFill(caps: readonly number[], total: number): number[] {
  const order = caps.map((_, i) => i).sort((a, b) => caps[a] - caps[b] || a - b);
  const parts = new Array<number>(caps.length).fill(0);
  let remaining = total;
  let left = caps.length;
  for (const i of order) {
    const share = Math.min(caps[i], Math.ceil(remaining / left));
    parts[i] = share;
    remaining -= share;
    left -= 1;
  }
  if (remaining !== 0 || parts.some((part) => part < 1)) throw new Error(`waterFill: cannot split ${total} over caps ${caps.join(',')}`);
  return parts;
}

/**
 * Plans an order of `amount` cents over `loans`: as many loans as possible (at most `maxLoans`,
 * one cent each at least), platforms interleaved, each part at most `maxPerLoan` and the loan's
 * room, as even as possible. Returns the parts in round-robin order; throws
 * `insufficient_capacity` (details: capacity, amount) when the loans cannot take the amount.
 */
export function planAllocation(loans: readonly LoanLike[], amount: number, maxPerLoan?: number | null, maxLoans = Infinity): Part[] {
  if (!Number.isSafeInteger(amount) || amount < 1) throw fundError('validation_failed', 'amount must be a positive integer of cents', { path: 'amount' });
  const cap = (loan: LoanLike): number => (maxPerLoan === undefined || maxPerLoan === null ? roomOf(loan) : Math.min(roomOf(loan), maxPerLoan));
  const candidates = roundRobin(loans);
  const count = Math.min(candidates.length, amount, maxLoans);
  const capacity = candidates.slice(0, Math.min(candidates.length, maxLoans)).reduce((sum, loan) => sum + cap(loan), 0);
  let chosen = candidates.slice(0, count);
  if (chosen.reduce((sum, loan) => sum + cap(loan), 0) < amount) {
    // The first loans of the round-robin are too small: take the largest instead, same order.
    const largest = new Set([...candidates].sort((a, b) => cap(b) - cap(a)).slice(0, count));
    chosen = candidates.filter((loan) => largest.has(loan));
  }
  const total = chosen.reduce((sum, loan) => sum + cap(loan), 0);
  if (count === 0 || total < amount) {
    throw fundError('insufficient_capacity', `open loans can take ${Math.max(total, 0)} of ${amount} cents${maxPerLoan ? ` at most ${maxPerLoan} per loan` : ''}`, {
      path: 'amount',
      details: { capacity: Math.max(total, capacity), amount },
    });
  }
  const parts = waterFill(chosen.map(cap), amount);
  return chosen.map((loan, i) => ({ loan: loan.id, platform: loan.platform, amount: parts[i], room: roomOf(loan), target: loan.target }));
}
