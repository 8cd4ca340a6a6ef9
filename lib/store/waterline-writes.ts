/**
 * Document writes through Waterline, for the stores whose fence lives outside the documents
 * (sails-disk under its mutex, sails-postgresql inside a native transaction that holds the lock
 * rows): the store checks the fence, then these write. Every action is idempotent.
 */
import { TransactError } from '../core/errors';
import { rawDestroy } from '../models/destroy-guard';
import type { Action } from '../core/operations';
import { isUniqueViolation, type WaterlineModel } from '../core/waterline';

export type ModelResolver = (identity: string) => WaterlineModel;

/**
 * @param connection a leased driver connection (sails-postgresql: a pg client inside BEGIN), or
 *   undefined for the datastore's own pool.
 * @param insertsMayExist check before inserting: an insert that already landed (a retry after a
 *   lost reply) is then skipped instead of failing the surrounding native transaction.
 */
export async function applyAction(model: WaterlineModel, action: Action, connection?: unknown, insertsMayExist = false): Promise<void> {
  const on = <T>(query: T): T => (connection === undefined ? query : ((query as unknown as { usingConnection(c: unknown): T }).usingConnection(connection)));
  const where = { [model.primaryKey]: action.id };
  switch (action.type) {
    case 'insert':
      if (insertsMayExist && (await on(model.findOne(where))) !== undefined) return;
      try {
        await on(model.create({ ...action.values, [model.primaryKey]: action.id }));
      } catch (err) {
        if (connection !== undefined || !isUniqueViolation(err)) throw err;
        // Already there: this insert ran before (a crash, or a lost reply). Inserts are idempotent by id.
        if ((await model.findOne(where)) !== undefined) return;
        // Not there: another unique attribute's value is taken. Nothing was inserted; saying so
        // (instead of skipping the insert as a retry) keeps a transaction from committing without it.
        throw uniqueValueTaken(model.identity, err, `inserting ${action.id}`);
      }
      return;
    case 'patch':
      if (Object.keys(action.values).length === 0) return;
      try {
        await on(model.update(where).set(action.values));
      } catch (err) {
        // A unique index refused the new value: nothing was written (inside a native transaction the
        // statement failed it). Waterline's own datastore.transaction() never comes here: its model
        // calls keep Waterline's E_UNIQUE.
        if (!isUniqueViolation(err)) throw err;
        throw uniqueValueTaken(model.identity, err, `updating ${action.id}`);
      }
      return;
    case 'remove':
      await on(rawDestroy(model)(where));
      return;
  }
}

/** `already_exists` for a write Waterline refused with E_UNIQUE (a unique value another document holds), naming the attributes Waterline names. */
function uniqueValueTaken(model: string, err: unknown, writing: string): TransactError {
  const named = (err as { attrNames?: unknown }).attrNames;
  const attributes = Array.isArray(named) ? named.map(String) : [];
  return new TransactError('already_exists', `a ${model} with the same ${attributes.length > 0 ? attributes.join(' / ') : 'unique value'} exists already (${writing})`, { details: { model, attributes }, cause: err });
}
