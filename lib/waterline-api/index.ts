/**
 * Waterline's own transaction API on every adapter:
 *
 *   await sails.getDatastore().transaction(async (db) => {
 *     const a = await Account.findOne({ id }).usingConnection(db);          // locked read
 *     await Account.updateOne({ id }).set({ balance: a.balance - 100 }).usingConnection(db);
 *   });
 *
 * On sails-mongo and sails-disk (no transactions of their own) and, with
 * `waterlineTransactions: 'engine'`, on sails-postgresql, the datastore that holds the engine's
 * log gets a `transaction` method that runs `during` as one engine interactive transaction, and
 * every model's adapter is wrapped so that calls `.usingConnection(db)` run inside it
 * (./adapter.ts). The engine then gives them what it gives `sails.transact(async tx => …)`:
 * locks, the log (history, reversal), fenced writes, crash recovery.
 */
import type { AmbientTransactions } from './ambient';
import type { Engine } from '../engine';
import { adapterKind } from '../store';
import type { WaterlineModel } from '../core/waterline';
import { type AdaptedModel, wrapModelAdapter } from './adapter';
import { engineTransactionMethod, type NativeTransactionMethod, nativeAmbientTransactionMethod } from './datastore';

export { EngineConnection, isEngineConnection } from './connection';

/** A datastore as sails-hook-orm registers it (its "RDI"): the parts replaced here. */
export interface RegisteredDatastore {
  config: { adapter: unknown };
  transaction: unknown;
}

/** The part of a Sails app this feature touches. */
export interface WaterlineTransactionsHost {
  models: Record<string, WaterlineModel>;
  getDatastore?: (name?: string) => RegisteredDatastore;
  /** sails-hook-orm copies the default datastore's `transaction` here. */
  transaction?: unknown;
}

/** The settings this feature reads (config.transact's `datastore` and `waterlineTransactions`). */
export interface WaterlineTransactionsSettings {
  datastore: string;
  waterlineTransactions: 'native' | 'engine';
}

/** Who runs `datastore.transaction()` on the log's datastore, as installed. */
export type WaterlineTransactionsMode = 'engine' | 'native';

/**
 * Installs the engine-backed `datastore.transaction()` (see the module comment), or leaves
 * sails-postgresql's native one alone when `waterlineTransactions` is 'native' there. Returns
 * which one the app now has. With `ambient` (config.transact.ambient) the models are wrapped in
 * either case: `sails.transact(async tx => …)` needs them to join its model calls.
 */
export function installWaterlineTransactions(engine: Engine, sails: WaterlineTransactionsHost, config: WaterlineTransactionsSettings, ambient?: AmbientTransactions): WaterlineTransactionsMode {
  if (sails.getDatastore === undefined) throw new Error('sails-hook-transact: sails.getDatastore is missing (is sails-hook-orm loaded?)');
  const datastore = sails.getDatastore(config.datastore);
  const native = adapterKind(datastore.config.adapter) === 'postgresql' && config.waterlineTransactions === 'native';
  if (native && ambient === undefined) return 'native';

  for (const model of Object.values(sails.models)) {
    const adapted = model as AdaptedModel;
    if (typeof adapted._adapter !== 'object' || adapted._adapter === null) continue;
    // The hook's own log and lock models are written by the engine alone.
    const refusal = model.transactInternal === true ? 'the transaction log and locks are written by the engine alone' : null;
    wrapModelAdapter(adapted, refusal, ambient);
  }
  // sails-postgresql's own transaction stays; its `db` is a client of its own, passed through.
  // With ambient transactions, the model calls its callback makes without `.usingConnection(db)`
  // run on that client (./datastore.ts nativeAmbientTransactionMethod): on this datastore, and on
  // any other sails-postgresql datastore the models use.
  if (ambient !== undefined) {
    const names = new Set(Object.values(sails.models).map((model) => model.datastore).filter((name): name is string => typeof name === 'string'));
    for (const name of names) {
      if (name === config.datastore && !native) continue;
      const other = name === config.datastore ? datastore : sails.getDatastore(name);
      if (!isPostgresql(other.config.adapter) || typeof other.transaction !== 'function') continue;
      const original = other.transaction as NativeTransactionMethod;
      const transaction = nativeAmbientTransactionMethod(original, other, name, ambient);
      other.transaction = transaction;
      if (sails.transaction !== undefined && sails.transaction === original) sails.transaction = transaction;
    }
  }
  if (native) return 'native';

  const original = datastore.transaction;
  const transaction = engineTransactionMethod((work, options) => engine.interactive(work, options), config.datastore, ambient);
  datastore.transaction = transaction;
  // `sails.transaction` is a copy of the default datastore's method, taken when the ORM loaded.
  if (sails.transaction !== undefined && sails.transaction === original) sails.transaction = transaction;
  return 'engine';
}

/** Whether a datastore's adapter is sails-postgresql (an app's other datastores may use any adapter). */
function isPostgresql(adapter: unknown): boolean {
  try {
    return adapterKind(adapter) === 'postgresql';
  } catch {
    return false;
  }
}
