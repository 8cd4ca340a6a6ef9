/**
 * The accounts' money: opening an account with a balance, transfers between accounts, closing an
 * account. The fund's rules live here, each checked on the documents read under their locks in
 * the transaction that writes: a balance never below 0 (also `min: 0` on the model, which the
 * engine applies to every increment, reversals included), a frozen account moves no money and
 * is not closed, an account holding money is not closed. Every change of a balance writes its
 * AccountEntry lines in the same transaction, so reconciliation can prove each balance.
 */
import { isTransactError, newId, type Transaction } from 'sails-hook-transact';
import type { FundApp } from '../app';
import type { Account } from '../domain';
import { fundError } from '../errors';
import { type CallerKey, keyedOptions } from './planning';

export interface OpenAccountInput {
  owner: string;
  currency?: Account['currency'];
  /** The money the account opens with (cents, ≥ 0): its `opening` line. */
  balance?: number;
}

/** An account and its opening line, one transaction (the demo seed; no HTTP path brings money in). */
export async function openAccount(app: FundApp, { owner, currency = 'EUR', balance = 0 }: OpenAccountInput, id: string = newId()): Promise<Account> {
  const ops: unknown[] = [{ op: 'create', model: 'account', id, values: { owner, currency, balance } }];
  if (balance !== 0) ops.push({ op: 'create', model: 'accountentry', values: { entry: `opening:${id}`, account: id, kind: 'opening', amount: balance, status: 'done' } });
  await app.transact(ops, { label: 'account opening' });
  const account = await app.models.account.findOne({ id });
  if (account === undefined) throw new Error(`account ${id} vanished after its creation`);
  return account;
}

export interface TransferInput {
  from: string;
  to: string;
  amount: number;
  memo?: string | null;
}

/** The account under its lock, refused when missing (404) or frozen (409 account_frozen). */
async function movable(tx: Transaction, id: string, path: string): Promise<Account> {
  const account = (await tx.read('account', id)) as Account | null;
  if (account === null) throw fundError('not_found', `account ${id} does not exist`, { path });
  if (account.frozen === true) throw fundError('account_frozen', `account ${id} is frozen: it moves no money`, { path });
  return account;
}

/**
 * Moves `amount` cents: debit (never below 0: 409 bound_violation), credit, the Transfer record
 * and two AccountEntry lines, all or nothing. Both accounts are read under their locks first,
 * so a freeze committed before the transfer takes its locks is always seen.
 */
export async function transfer(app: FundApp, { from, to, amount, memo = null }: TransferInput, caller?: CallerKey): Promise<{ transaction: string; transfer: string }> {
  if (from === to) throw fundError('validation_failed', 'from and to must differ', { path: 'body.to' });
  const result = await app.transact(
    async (tx) => {
      // Locks in id order: two opposite transfers never wait on each other's first lock.
      for (const [id, path] of [[from, 'body.from'], [to, 'body.to']].sort((a, b) => (a[0] < b[0] ? -1 : 1))) await movable(tx, id, path);
      const record = newId();
      try {
        await tx.increment('account', from, 'balance', -amount, { min: 0 });
      } catch (err) {
        if (isTransactError(err, 'bound_violation')) throw fundError('bound_violation', `account ${from} has not enough money`, { path: 'body.amount', ...(err.details === undefined ? {} : { details: err.details }) });
        throw err;
      }
      await tx.increment('account', to, 'balance', amount);
      await tx.create('transfer', { from, to, amount, memo }, record);
      await tx.create('accountentry', { entry: record, account: from, kind: 'transfer', amount: -amount, status: 'done' });
      await tx.create('accountentry', { entry: record, account: to, kind: 'transfer', amount, status: 'done' });
      return { transaction: tx.id, transfer: record };
    },
    { label: 'transfer', ...keyedOptions(caller, 'transfer') },
  );
  // A keyed repeat answers the first call's result without running: it must have been this transfer.
  if (caller !== undefined) {
    const made = await app.models.transfer.findOne({ id: result.transfer });
    if (!made || made.from !== from || made.to !== to || made.amount !== amount || (made.memo ?? null) !== memo) {
      throw fundError('idempotency_conflict', 'this Idempotency-Key was used for another transfer', { path: 'headers.idempotency-key' });
    }
  }
  return result;
}

/** Destroys an account that holds no money and is not frozen (409 account_not_empty / account_frozen); its lines and the log keep its history. */
export async function closeAccount(app: FundApp, id: string): Promise<{ account: Account; transaction: string }> {
  return app.transact(
    async (tx) => {
      const account = (await tx.read('account', id)) as Account | null;
      if (account === null) throw fundError('not_found', `account ${id} does not exist`, { path: 'id' });
      if (account.frozen === true) throw fundError('account_frozen', `account ${id} is frozen: it is not closed`, { path: 'id' });
      if (account.balance !== 0) throw fundError('account_not_empty', `account ${id} holds ${account.balance} cents: move them out before closing it`, { path: 'id', details: { balance: account.balance } });
      await tx.destroy('account', id);
      return { account, transaction: tx.id };
    },
    { label: 'account closing' },
  );
}
