/**
 * History is never deleted: the log model and every model declared `financial: true` refuse
 * destroy through the model API. Only the engine keeps the original method, to take back a
 * document it created in a transaction that never committed (it never was history).
 */
import { TransactError } from '../core/errors';
import type { Deferred, WaterlineModel } from '../core/waterline';

// Symbol.for: Sails may load this module twice (it clears user hooks from the require cache).
const ORIGINAL_DESTROY = Symbol.for('sails-hook-transact.originalDestroy');
const DESTROY_METHODS = ['destroy', 'destroyOne', 'archive', 'archiveOne'] as const;
const CHAINABLE = ['fetch', 'meta', 'usingConnection', 'where', 'limit', 'skip', 'sort', 'intercept', 'tolerate', 'decrypt', 'set'];

type DestroyFn = WaterlineModel['destroy'];

/** A query that fails with `destroy_forbidden` however it is chained, awaited or called back. */
function refusedQuery(error: TransactError, callback?: unknown): Deferred<never> {
  const query: Record<string, unknown> = {
    then: (ok?: (value: never) => unknown, ko?: (reason: unknown) => unknown) => Promise.reject(error).then(ok, ko),
    catch: (ko: (reason: unknown) => unknown) => Promise.reject(error).catch(ko),
    exec: (cb: (err: unknown) => void) => cb(error),
  };
  for (const name of CHAINABLE) query[name] = () => query;
  if (typeof callback === 'function') setImmediate(() => (callback as (err: unknown) => void)(error));
  return query as unknown as Deferred<never>;
}

/** Where the original destroy is kept: on the model object itself, out of Waterline's way. */
function slots(model: WaterlineModel): Record<symbol, DestroyFn | undefined> {
  return model as unknown as Record<symbol, DestroyFn | undefined>;
}

export function forbidDestroy(model: WaterlineModel, why: string): void {
  if (slots(model)[ORIGINAL_DESTROY] !== undefined) return;
  slots(model)[ORIGINAL_DESTROY] = model.destroy.bind(model);
  const error = (): TransactError => new TransactError('destroy_forbidden', `${model.identity} ${why}: it is never destroyed; reverse the transaction that wrote it instead`);
  for (const method of DESTROY_METHODS) {
    if (typeof model[method] === 'function') {
      (model as Record<string, unknown>)[method] = (_criteria: unknown, callback?: unknown) => refusedQuery(error(), callback);
    }
  }
}

/** The model's own destroy, also when the model API refuses it. */
export function rawDestroy(model: WaterlineModel): DestroyFn {
  return slots(model)[ORIGINAL_DESTROY] ?? model.destroy.bind(model);
}

export function isFinancial(model: WaterlineModel): boolean {
  return model.financial === true;
}
