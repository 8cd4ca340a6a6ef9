/**
 * Random transfers under contention: the load of the contention and several-instances suites,
 * and the checks that the money adds up afterwards, against the log.
 */
import { expect } from 'chai';
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Engine } from '../../lib/engine';
import { isTransactError } from '../../lib/core/errors';
import { rawDestroy } from '../../lib/models/destroy-guard';
import type { LoadedApp } from './app';

export const LOAD_ACCOUNTS = Array.from({ length: 10 }, (_, i) => `c${String(i).padStart(23, '0')}`);
export const START_BALANCE = 10_000;

export async function seedLoadAccounts(app: LoadedApp): Promise<void> {
  for (const identity of ['account', 'transfer', 'transactlog', 'transactlock']) await rawDestroy(app.models[identity])({});
  await app.models.account.createEach(LOAD_ACCOUNTS.map((id, i) => ({ id, owner: `investor ${i}`, balance: START_BALANCE })));
}

/** A transfer of the load's shape (what checkLedger checks against the log): one debit within the balance, one credit. */
export function transferOperations(from: string, to: string, amount: number): object[] {
  return [
    { op: 'increment', model: 'account', id: from, field: 'balance', by: -amount, min: 0 },
    { op: 'increment', model: 'account', id: to, field: 'balance', by: amount },
  ];
}

export interface LoadOutcome {
  committed: number;
  /** Refused by the "balance never below 0" bound: nothing written. */
  insufficient: number;
  lockTimeouts: number;
  otherErrors: string[];
}

/** `count` random transfers (1..3,000 cents, some too large on purpose) run by `workers` concurrent loops. */
export async function runTransfers(engine: Engine, count: number, workers: number): Promise<LoadOutcome> {
  const outcome: LoadOutcome = { committed: 0, insufficient: 0, lockTimeouts: 0, otherErrors: [] };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const from = LOAD_ACCOUNTS[randomInt(LOAD_ACCOUNTS.length)];
      let to = LOAD_ACCOUNTS[randomInt(LOAD_ACCOUNTS.length)];
      while (to === from) to = LOAD_ACCOUNTS[randomInt(LOAD_ACCOUNTS.length)];
      const amount = 1 + randomInt(3_000);
      try {
        await engine.batch(
          [
            { op: 'increment', model: 'account', id: from, field: 'balance', by: -amount, min: 0 },
            { op: 'increment', model: 'account', id: to, field: 'balance', by: amount },
            { op: 'create', model: 'transfer', values: { from, to, amount } },
          ],
          { label: 'load' },
        );
        outcome.committed++;
      } catch (err) {
        if (isTransactError(err, 'bound_violation')) outcome.insufficient++;
        else if (isTransactError(err, 'lock_timeout')) outcome.lockTimeouts++;
        else outcome.otherErrors.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return outcome;
}

export interface LedgerCheck {
  sum: number;
  negative: string[];
  committedLogs: number;
  transfers: number;
  /** Transfers that are not the create of exactly one committed log, or committed creates with no transfer. */
  unmatched: number;
  /** Accounts whose balance differs from the start plus every committed log's increments. */
  mismatched: string[];
  activeLogs: number;
  locks: number;
}

/** Every account against the committed log, nothing left active or locked, no money made or lost. */
export async function expectConsistent(app: LoadedApp): Promise<void> {
  const ledger = await checkLedger(app);
  expect(ledger.mismatched, 'accounts that differ from their committed history').to.deep.equal([]);
  expect(ledger.sum).to.equal(LOAD_ACCOUNTS.length * START_BALANCE);
  expect(ledger.negative).to.deep.equal([]);
  expect(ledger.activeLogs).to.equal(0);
  expect(ledger.locks).to.equal(0);
}

/** Reads everything back and checks it against the committed log. */
export async function checkLedger(app: LoadedApp): Promise<LedgerCheck> {
  const accounts = await app.models.account.find({ id: { in: LOAD_ACCOUNTS } });
  const logs = await app.models.transactlog.find({});
  const transfers = await app.models.transfer.find({});
  const committed = logs.filter((log) => log.state === 'committed' && log.label === 'load');
  const expected = new Map(LOAD_ACCOUNTS.map((id) => [id, START_BALANCE]));
  const createdIds: string[] = [];
  for (const log of committed) {
    for (const step of log.steps as { kind: string; id: string; model: string; delta?: { by: number } }[]) {
      if (step.kind === 'increment') expected.set(step.id, (expected.get(step.id) ?? 0) + (step.delta?.by ?? 0));
      if (step.kind === 'create' && step.model === 'transfer') createdIds.push(step.id);
    }
  }
  const transferIds = new Set(transfers.map((t) => String(t.id)));
  const unmatched = createdIds.filter((id) => !transferIds.has(id)).length + (transfers.length - new Set(createdIds).size) + (createdIds.length - new Set(createdIds).size);
  return {
    sum: accounts.reduce((total, a) => total + (a.balance as number), 0),
    negative: accounts.filter((a) => (a.balance as number) < 0).map((a) => String(a.id)),
    committedLogs: committed.length,
    transfers: transfers.length,
    unmatched,
    mismatched: accounts.filter((a) => a.balance !== expected.get(String(a.id))).map((a) => String(a.id)),
    activeLogs: logs.filter((log) => log.state === 'pending' || log.state === 'rolling-back').length,
    locks: (await app.models.transactlock.find({})).length,
  };
}

/** The ids of the transfers a late-write batch creates (test/support/crash-child.ts 'create-batch'). */
export function lateIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `e${i.toString(16).padStart(23, '0')}`);
}

/** Recovery passes (bounded) until nothing is active: what the recovery timer would do. */
export async function recoverAll(app: LoadedApp): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    await app.hooks.transact.recover();
    const ledger = await checkLedger(app);
    if ((ledger.activeLogs === 0 && ledger.locks === 0) || Date.now() > deadline) return;
    await sleep(100);
  }
}
