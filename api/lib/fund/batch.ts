/**
 * Building the fund's batches — each movement ONE engine batch (all or nothing) with its ledger
 * lines, a set per movement summing to zero — and reading what a refusal of one means.
 */
import { isTransactError, type Operation, type TransactionOptions, type TransactionResult } from 'sails-hook-transact';
import type { FundApp } from '../app';
import type { LedgerEntry } from '../domain';
import { fundError } from '../errors';
import type { Part } from './planning';

/** What a bound violation on an operation means for the fund. */
export type Role = 'funds' | 'capacity' | 'settled';

export type LedgerLine = Partial<Omit<LedgerEntry, 'id' | 'entry' | 'createdAt'>> & Pick<LedgerEntry, 'account' | 'amount'>;

/** Batch operations with a role per operation (what a bound violation there means). */
export class Batch {
  readonly ops: Operation[] = [];
  readonly roles: (Role | null)[] = [];

  add(op: Operation, role: Role | null = null): this {
    this.ops.push(op);
    this.roles.push(role);
    return this;
  }

  /** The lines of one movement (`entry`): they must sum to zero. */
  ledger(entry: string, lines: readonly LedgerLine[]): this {
    const sum = lines.reduce((total, line) => total + line.amount, 0);
    if (sum !== 0) throw new Error(`ledger entry ${entry} does not balance (${sum})`);
    for (const line of lines) {
      this.add({ op: 'create', model: 'ledgerentry', values: { entry, investor: null, paymentId: null, order: null, memo: null, ...line } });
    }
    return this;
  }
}

/**
 * Appends the allocation of an order to a batch: cash −amount (min 0), invested +amount, each
 * loan's raised (max its target; status 'funded' when full), the allocations and ledger lines.
 */
export function addAllocation(batch: Batch, { investor, orderId, amount, parts, entry }: { investor: string; orderId: string; amount: number; parts: readonly Part[]; entry: string }): Batch {
  batch.add({ op: 'increment', model: 'investor', id: investor, field: 'cash', by: -amount, min: 0 }, 'funds');
  batch.add({ op: 'increment', model: 'investor', id: investor, field: 'invested', by: amount });
  for (const part of parts) {
    batch.add({ op: 'increment', model: 'loan', id: part.loan, field: 'raised', by: part.amount, max: part.target }, 'capacity');
    if (part.amount === part.room) batch.add({ op: 'update', model: 'loan', id: part.loan, set: { status: 'funded' } });
    batch.add({ op: 'create', model: 'allocation', values: { order: orderId, loan: part.loan, platform: part.platform, amount: part.amount } });
  }
  batch.ledger(entry, [
    { investor, order: orderId, account: 'cash', amount: -amount, memo: `order ${orderId}` },
    { investor, order: orderId, account: 'invested', amount, memo: `order ${orderId}` },
  ]);
  return batch;
}

/** The most loans one order may touch: a batch has at most maxOps operations (3 per loan + 6). */
export function maxLoansOf(app: FundApp): number {
  const maxOps = app.config.transact.maxOps ?? 1000;
  return Math.max(1, Math.floor((maxOps - 8) / 3));
}

/**
 * The role (funds, capacity, settled) of the operation a bound violation hit, or null: by its
 * path (`ops.<i>`) or — a replayed error, whose path may name another attempt's batch — by the
 * model, id and field its details keep.
 */
export function boundRole(err: unknown, batch: Batch): Role | null {
  if (!isTransactError(err, 'bound_violation')) return null;
  const match = typeof err.path === 'string' ? /^ops\.(\d+)$/.exec(err.path) : null;
  const details = err.details ?? {};
  const index = match !== null ? Number(match[1]) : -1;
  const byPath = batch.ops[index];
  if (byPath !== undefined && byPath.op === 'increment' && byPath.model === details.model && byPath.id === details.id && byPath.field === details.field) return batch.roles[index];
  const i = batch.ops.findIndex((op) => op.op === 'increment' && op.model === details.model && op.id === details.id && op.field === details.field);
  return i < 0 ? null : batch.roles[i];
}

/** Turns a bound violation into the fund's own code; other errors pass through. */
export function fundErrorOf(err: unknown, batch: Batch): unknown {
  const role = boundRole(err, batch);
  if (role === 'funds') return fundError('insufficient_funds', 'the investor has not enough cash', { path: 'body.amount' });
  if (role === 'capacity') return fundError('insufficient_capacity', 'a loan filled up meanwhile: not enough room in open loans', { path: 'body.amount' });
  return err;
}

export async function runBatch(app: FundApp, batch: Batch, options: TransactionOptions): Promise<TransactionResult> {
  try {
    return await app.transact(batch.ops, options);
  } catch (err) {
    throw fundErrorOf(err, batch);
  }
}
