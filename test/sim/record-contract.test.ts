/**
 * The RecordStore contract (cases in test/support/record-contract.ts) against the REAL
 * MongoRecords over the simulation's MongoDB driver (mongo-driver.ts): the driver the 'redo-mongo'
 * flavour runs MongoRecords on is held to the cases MongoRecords meets on a MongoDB server, so the
 * simulated driver cannot drift from what MongoRecords needs of MongoDB (unique values, R9,
 * included: the `user` model's unique username has its unique index, as migrations make it).
 * The app's plain queries go through the simulated models' imitation of the hook's wrap
 * (lib/store/mongo/plain-reads.ts withoutRecords).
 */
import { uniqueKeys } from '../../lib/core/model-info';
import { FENCE_FIELD, WRITE_FIELD } from '../../lib/store/mongo/store';
import { MongoRecords } from '../../lib/store/mongo/records';
import { defineRecordContract, type RecordSubject } from '../support/record-contract';
import { directTransport, SimDatabase } from './database';
import { SimMongoDb } from './mongo-driver';
import { SimModel, type SimModelDefinition } from './waterline-models';

const MODELS: readonly SimModelDefinition[] = [
  { identity: 'account', attributes: { owner: { type: 'string' }, balance: { type: 'number' } } },
  { identity: 'user', attributes: { username: { type: 'string', required: true, autoMigrations: { unique: true } }, passwordHash: { type: 'string' }, role: { type: 'string' } } },
];

describe('record store contract [MongoRecords over the simulated MongoDB driver]', function () {
  async function open(): Promise<RecordSubject> {
    const db = new SimDatabase();
    const driver = new SimMongoDb(db, directTransport, () => Date.now(), { records: true });
    const models = new Map<string, SimModel>();
    for (const definition of MODELS) {
      models.set(definition.identity, new SimModel(definition, db, directTransport, { pkColumn: '_id', fenceField: FENCE_FIELD, hiddenField: WRITE_FIELD, nulls: 'first', adapter: 'sails-mongo', manager: driver, records: true }));
    }
    // What migrations (sails-mongo's auto-migrations of `unique: true`) create.
    await driver.collection('user').createIndex({ username: 1 }, { unique: true });
    const model = (identity: string): SimModel => {
      const found = models.get(identity);
      if (found === undefined) throw new Error(`no model ${identity}`);
      return found;
    };
    return {
      records: new MongoRecords(driver, model, uniqueKeys),
      put: async (identity, id, values) => {
        await model(identity).create({ id, ...values });
      },
      plain: async (identity) => ({ rows: await model(identity).find({}), count: await model(identity).count({}) }),
      now: () => Date.now(),
    };
  }

  defineRecordContract(open, {});
});
