/**
 * What the Waterline-API suite and its crash child share: the typed face of Waterline's
 * `datastore.transaction()` and model calls, and the transfer written the way Sails users write it.
 */
import { newId } from '../../lib/core/ids';
import type { LoadedApp } from './app';

export type Row = Record<string, unknown>;

/** A Waterline query as the tests use it: chainable, thenable. */
export interface Query<T> extends PromiseLike<T> {
  usingConnection(db: unknown): Query<T>;
  set(values: Row): Query<T>;
  fetch(): Query<T>;
  meta(meta: Row): Query<T>;
}

/** The model calls the suite makes (Waterline ships no types). */
export interface Model {
  find(criteria?: Row): Query<Row[]>;
  findOne(criteria: Row): Query<Row | undefined>;
  count(criteria?: Row): Query<number>;
  sum(attribute: string, criteria?: Row): Query<number>;
  avg(attribute: string, criteria?: Row): Query<number>;
  create(values: Row): Query<Row | undefined>;
  createEach(values: Row[]): Query<Row[] | undefined>;
  update(criteria: Row): Query<Row[] | undefined>;
  updateOne(criteria: Row): Query<Row | undefined>;
  destroy(criteria: Row): Query<Row[] | undefined>;
  destroyOne(criteria: Row): Query<Row | undefined>;
}

export interface Datastore {
  transaction<T>(during: (db: unknown) => Promise<T>): PromiseLike<T> & { meta(meta: Row): PromiseLike<T> };
  sendNativeQuery(sql: string): Query<unknown>;
}

export function modelOf(app: LoadedApp, identity: string): Model {
  return app.models[identity] as unknown as Model;
}

export function datastoreOf(app: LoadedApp): Datastore {
  return (app as unknown as { getDatastore(name?: string): Datastore }).getDatastore();
}

export const ACCOUNTS = { a: 'a00000000000000000000001', b: 'a00000000000000000000002' } as const;
export const TRANSFER_ID = 'f00000000000000000000001';

/** Moves `amount` from `from` to `to` and records it, in Waterline's own API; refuses to overdraw. */
export async function waterlineTransfer(app: LoadedApp, from: string, to: string, amount: number, transferId: string = newId()): Promise<Row | undefined> {
  const account = modelOf(app, 'account');
  const transfer = modelOf(app, 'transfer');
  return datastoreOf(app).transaction(async (db) => {
    // Locked reads, in id order: two transfers over the same accounts queue instead of deadlocking.
    const [first, second] = [from, to].sort();
    const images = new Map([
      [first, await account.findOne({ id: first }).usingConnection(db)],
      [second, await account.findOne({ id: second }).usingConnection(db)],
    ]);
    const source = images.get(from) as Row;
    const target = images.get(to) as Row;
    if ((source.balance as number) < amount) throw new Error('insufficient funds');
    await account.updateOne({ id: from }).set({ balance: (source.balance as number) - amount }).usingConnection(db);
    await account.updateOne({ id: to }).set({ balance: (target.balance as number) + amount }).usingConnection(db);
    return transfer.create({ id: transferId, from, to, amount }).fetch().usingConnection(db);
  });
}
