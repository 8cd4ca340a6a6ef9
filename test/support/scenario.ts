/**
 * The money-moving scenario the crash suite kills at every protocol step: one transaction that
 * touches five documents with every kind of write — debit with a floor, credit, a created
 * record, an update of several attributes, and a destroy.
 */
import type { Engine } from '../../lib/engine';
import { documentKey } from '../../lib/core/operations';
import type { LoadedApp } from './app';

export type Row = Record<string, unknown>;
export type ScenarioName = 'batch' | 'batch-forward' | 'batch-keyed' | 'interactive' | 'interactive-abort';

export const IDS = {
  alice: 'a00000000000000000000001',
  bob: 'a00000000000000000000002',
  carol: 'a00000000000000000000003',
  dave: 'a00000000000000000000004',
  transfer: 'b00000000000000000000001',
};
export const AMOUNT = 300;

export async function seedAccounts(app: LoadedApp): Promise<void> {
  const account = app.models.account;
  await account.create({ id: IDS.alice, owner: 'Alice', balance: 1000, meta: { tier: 'gold', tags: ['x'] } });
  await account.create({ id: IDS.bob, owner: 'Bob', balance: 500, currency: 'CNY' });
  await account.create({ id: IDS.carol, owner: 'Carol', balance: 0, frozen: true, meta: null });
  await account.create({ id: IDS.dave, owner: 'Dave', balance: 7 });
}

const transfer = { from: IDS.alice, to: IDS.bob, amount: AMOUNT, memo: 'crash drill' };
const carolSet = { frozen: false, meta: { note: 'unfrozen' } };

export async function runScenario(engine: Engine, name: ScenarioName): Promise<void> {
  if (name === 'batch' || name === 'batch-forward' || name === 'batch-keyed') {
    await engine.batch(
      [
        { op: 'increment', model: 'account', id: IDS.alice, field: 'balance', by: -AMOUNT, min: 0 },
        { op: 'increment', model: 'account', id: IDS.bob, field: 'balance', by: AMOUNT },
        { op: 'create', model: 'transfer', id: IDS.transfer, values: transfer },
        { op: 'update', model: 'account', id: IDS.carol, set: carolSet },
        { op: 'destroy', model: 'account', id: IDS.dave },
      ],
      {
        label: 'crash drill',
        onCrash: name === 'batch-forward' ? 'rollforward' : 'rollback',
        ...(name === 'batch-keyed' ? { idempotencyKey: 'crash-drill-payment' } : {}),
      },
    );
    return;
  }
  await engine
    .interactive(async (tx) => {
      const alice = (await tx.read('account', IDS.alice)) as Row;
      await tx.update('account', IDS.alice, { balance: (alice.balance as number) - AMOUNT });
      await tx.increment('account', IDS.bob, 'balance', AMOUNT);
      await tx.create('transfer', transfer, IDS.transfer);
      await tx.update('account', IDS.carol, carolSet);
      await tx.destroy('account', IDS.dave);
      if (name === 'interactive-abort') throw new Error('abort drill');
    })
    .catch((err: unknown) => {
      if (!(name === 'interactive-abort' && err instanceof Error && err.message === 'abort drill')) throw err;
    });
}

/** Every document and every log and lock: what the parent compares. */
export async function snapshot(app: LoadedApp): Promise<{ accounts: Row[]; transfers: Row[]; logs: Row[]; locks: Row[] }> {
  const sorted = async (identity: string): Promise<Row[]> => (await app.models[identity].find({})).sort((a, b) => String(a.id).localeCompare(String(b.id)));
  return { accounts: await sorted('account'), transfers: await sorted('transfer'), logs: await sorted('transactlog'), locks: [...(await sorted('transactlock')), ...(await heldRecords(app))] };
}

/** Log protocol v3: the records a lock holds (none on the other protocols), as `{id: model:id, token}`. */
async function heldRecords(app: LoadedApp): Promise<Row[]> {
  const records = (app.hooks.transact.engine as Engine).records;
  if (records === undefined) return [];
  const held: Row[] = [];
  for (const model of ['account', 'transfer']) {
    for (const record of await records.findExpired(model, Number.MAX_SAFE_INTEGER, 10_000)) held.push({ id: documentKey(model, record.id), token: record.lock?.token ?? null });
  }
  return held;
}
