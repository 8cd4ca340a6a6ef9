/**
 * Waterline's API without gaps (issue 23): a table of ordinary Waterline programs, each run
 * inside `datastore.transaction(async (db) => …)` through the hook — on every adapter, on every
 * protocol the adapter runs — and compared, result and final state, with Waterline's own
 * behaviour: the same program inside sails-postgresql's native transaction (the reference for
 * every program), and for read-only programs plain Waterline on the same adapter too. A shape
 * the hook refuses must be refused with a typed TransactError, and nothing of the program written.
 */
import { expect } from 'chai';
import { isTransactError } from '../../../lib/core/errors';
import { type Chain, type DiffApp, DIFF_MODELS, type DiffModel, loadDiffApp, type Row } from '../../support/differential';
import { type AdapterName, forEachAdapter, freshTarget, type Protocol, protocolConfig, REDO_ADAPTERS, required } from '../../support/targets';

const O1 = 'a00000000000000000000001';
const O2 = 'a00000000000000000000002';
const O3 = 'a00000000000000000000003';
const O4 = 'a00000000000000000000004';
const O5 = 'a00000000000000000000005';
const P1 = 'b00000000000000000000001';
const P2 = 'b00000000000000000000002';
const P3 = 'b00000000000000000000003';
const P4 = 'b00000000000000000000004';
const P5 = 'b00000000000000000000005';
const P6 = 'b00000000000000000000006';

async function seed(app: DiffApp): Promise<void> {
  await app.models.owner.createEach([
    { id: O1, name: 'ann', email: 'ann@example.com', age: 30, tier: 'gold', profile: { langs: ['en', 'fr'], score: 7 } },
    { id: O2, name: 'bob', email: 'bob@example.com', age: 40, profile: { langs: ['de'] } },
    { id: O3, name: 'cat', email: 'cat@example.com', age: 25, tier: 'silver', profile: null },
    { id: O4, name: 'dan', email: 'dan@example.com', age: 40, profile: {} },
  ]);
  await app.models.pet.createEach([
    { id: P1, name: 'rex', kind: 'dog', weight: 10, owner: O1 },
    { id: P2, name: 'tom', kind: 'cat', weight: 4, owner: O1 },
    { id: P3, name: 'nemo', kind: 'fish', weight: 1, owner: O2 },
    { id: P4, name: 'kit', kind: 'cat', weight: 3, owner: null },
    { id: P5, name: 'bo', kind: 'fish', weight: 2, owner: O3 },
  ]);
}

/** Attaches the transaction's connection to a query (or nothing, for the plain reference). */
type Use = (query: Chain) => Chain;
type Models = Record<'owner' | 'pet', DiffModel>;

interface Program {
  name: string;
  /** Only reads: plain Waterline on the same adapter is a reference too. */
  readOnly?: boolean;
  /** Adapters whose plain Waterline cannot run it, with why: no plain reference there. */
  noPlainOn?: Partial<Record<AdapterName, string>>;
  /** The hook refuses it, with this TransactError code, and nothing of it is written (on every adapter, or on those named). */
  refused?: string | Partial<Record<AdapterName, string>>;
  run(models: Models, use: Use): Promise<unknown>;
}

const byId = (rows: unknown): Row[] => [...(rows as Row[])].sort((a, b) => String(a.id).localeCompare(String(b.id)));
const names = (rows: unknown): unknown[] => (rows as Row[]).map((row) => row.name);

/** The programs: the fifteen shapes of issue 23's check, then what else a Sails app runs inside a transaction. */
const PROGRAMS: Program[] = [
  {
    name: 'read-modify-write (findOne, then updateOne from what it read)',
    run: async ({ owner }, use) => {
      const ann = (await use(owner.findOne({ id: O1 }))) as Row;
      return use(owner.updateOne({ id: O1 }).set({ age: (ann.age as number) + 1 }));
    },
  },
  {
    name: 'a throw after writes rolls them back and is rethrown',
    run: async ({ owner, pet }, use) => {
      await use(owner.updateOne({ id: O1 }).set({ age: 99 }));
      await use(pet.create({ id: P6, name: 'new', owner: O1 }));
      await use(pet.destroyOne({ id: P3 }));
      throw new Error('changed my mind');
    },
  },
  {
    name: 'update by criteria with .fetch()',
    run: async ({ owner }, use) => byId(await use(owner.update({ age: 40 }).set({ tier: 'bronze' }).fetch())),
  },
  {
    name: 'destroy by criteria with .fetch()',
    run: async ({ pet }, use) => byId(await use(pet.destroy({ kind: 'fish' }).fetch())),
  },
  {
    name: 'createEach with .fetch(), and without',
    run: async ({ pet }, use) => {
      const fetched = await use(pet.createEach([{ id: P6, name: 'zed', kind: 'dog', owner: O4 }]).fetch());
      const unfetched = await use(pet.createEach([{ id: 'b00000000000000000000007', name: 'ada', owner: O4 }]));
      return { fetched, unfetched };
    },
  },
  {
    name: 'find with sort, skip and limit',
    readOnly: true,
    run: async ({ owner }, use) => names(await use(owner.find({ where: {}, sort: [{ age: 'DESC' }, { name: 'ASC' }], skip: 1, limit: 2 }))),
  },
  {
    name: 'find with chained .sort().skip().limit()',
    readOnly: true,
    run: async ({ pet }, use) => names(await use(pet.find().sort('weight ASC').skip(1).limit(3))),
  },
  {
    name: 'sum and avg',
    readOnly: true,
    noPlainOn: { mongo: 'FerretDB, the suite’s MongoDB, does not implement $avg' },
    run: async ({ owner, pet }, use) => ({ sum: await use(owner.sum('age', {})), avg: await use(owner.avg('age', { age: { '>': 26 } })), weight: await use(pet.sum('weight', { kind: 'cat' })) }),
  },
  {
    name: 'read-your-writes: a create and an update seen by criteria, count and sum',
    run: async ({ pet }, use) => {
      await use(pet.create({ id: P6, name: 'zed', kind: 'fish', weight: 5, owner: O4 }));
      await use(pet.updateOne({ id: P1 }).set({ kind: 'fish' }));
      const fish = names(await use(pet.find({ kind: 'fish' }).sort('name ASC')));
      return { fish, count: await use(pet.count({ kind: 'fish' })), weight: await use(pet.sum('weight', { kind: 'fish' })) };
    },
  },
  {
    name: 'findOrCreate: one found, one created',
    run: async ({ owner }, use) => {
      const found = await use(owner.findOrCreate({ email: 'ann@example.com' }, { id: O5, name: 'x', email: 'ann@example.com' }));
      const created = await use(owner.findOrCreate({ email: 'eve@example.com' }, { id: O5, name: 'eve', email: 'eve@example.com', age: 22 }));
      return { found, created };
    },
  },
  {
    name: '.populate() of a to-one association',
    readOnly: true,
    run: async ({ pet }, use) => use(pet.find({ sort: 'id ASC' }).populate('owner')),
  },
  {
    name: '.populate() of a to-many collection, with subcriteria',
    readOnly: true,
    run: async ({ owner }, use) => ({
      all: await use(owner.find({ sort: 'id ASC' }).populate('pets', { sort: 'name ASC' })),
      some: await use(owner.findOne({ id: O1 }).populate('pets', { where: { kind: 'cat' }, select: ['name'] })),
      limited: await use(owner.find({ id: { in: [O1, O2] } }).sort('id ASC').populate('pets', { sort: 'weight DESC', limit: 1 })),
    }),
  },
  {
    name: '.populate() sees the transaction’s own writes (a child’s new reference)',
    run: async ({ owner, pet }, use) => {
      await use(pet.create({ id: P6, name: 'zed', owner: O4 }));
      await use(pet.updateOne({ id: P4 }).set({ owner: O4 }));
      await use(pet.destroyOne({ id: P2 }));
      return {
        dan: await use(owner.findOne({ id: O4 }).populate('pets', { sort: 'name ASC' })),
        ann: await use(owner.findOne({ id: O1 }).populate('pets')),
        zed: await use(pet.findOne({ id: P6 }).populate('owner')),
      };
    },
  },
  {
    name: 'JSON attributes: written and read back whole',
    run: async ({ owner }, use) => {
      await use(owner.updateOne({ id: O3 }).set({ profile: { nested: { list: [1, 'two', { three: 3 }] }, empty: [] } }));
      return use(owner.findOne({ id: O3 }));
    },
  },
  {
    name: 'a usage error caught inside; the transaction carries on and commits',
    run: async ({ owner }, use) => {
      const caught = await Promise.resolve(use(owner.find({ where: { age: { frobnicate: 1 } } }))).then(
        () => 'no error',
        (err: unknown) => (err as { name?: string }).name,
      );
      await use(owner.updateOne({ id: O2 }).set({ age: 41 }));
      return caught;
    },
  },
  {
    name: 'a taken id: the unique violation fails the transaction, nothing of it stays',
    run: async ({ owner, pet }, use) => {
      await use(owner.updateOne({ id: O1 }).set({ age: 31 }));
      await use(pet.create({ id: P1, name: 'again' }));
    },
  },
  {
    name: 'a taken unique attribute (not the id) fails the transaction',
    run: async ({ owner }, use) => {
      await use(owner.updateOne({ id: O1 }).set({ age: 31 }));
      await use(owner.create({ id: O5, name: 'dup', email: 'bob@example.com' }));
    },
  },
  {
    name: 'a child’s reference: create a pet for an owner, read it back both ways',
    run: async ({ owner, pet }, use) => {
      const created = await use(pet.create({ id: P6, name: 'zed', owner: O2 }).fetch());
      return { created, count: await use(pet.count({ owner: O2 })), pets: names(await use(pet.find({ owner: O2 }).sort('name ASC'))), bob: await use(owner.findOne({ id: O2 })) };
    },
  },
  {
    name: '.select() and .omit()',
    readOnly: true,
    run: async ({ owner }, use) => ({
      select: await use(owner.find({ sort: 'id ASC' }).select(['name', 'age'])),
      omit: await use(owner.findOne({ id: O1 }).omit(['profile', 'email'])),
    }),
  },
  {
    name: 'count, with and without criteria',
    readOnly: true,
    run: async ({ owner, pet }, use) => ({ all: await use(pet.count()), cats: await use(pet.count({ kind: 'cat' })), none: await use(owner.count({ age: { '>': 100 } })) }),
  },
  {
    name: 'findOne of a missing record',
    readOnly: true,
    run: async ({ owner }, use) => ({ byId: await use(owner.findOne({ id: O5 })), byName: await use(owner.findOne({ name: 'nobody' })) }),
  },
  {
    name: 'updateOne and destroyOne, found and missing',
    run: async ({ owner, pet }, use) => ({
      updated: await use(owner.updateOne({ email: 'cat@example.com' }).set({ tier: null })),
      missingUpdate: await use(owner.updateOne({ id: O5 }).set({ age: 1 })),
      destroyed: await use(pet.destroyOne({ name: 'kit' })),
      missingDestroy: await use(pet.destroyOne({ id: P6 })),
    }),
  },
  {
    name: '.meta({fetch: true}) on create, update and destroy',
    run: async ({ pet }, use) => ({
      created: await use(pet.create({ id: P6, name: 'zed' }).meta({ fetch: true })),
      updated: byId(await use(pet.update({ kind: 'cat' }).set({ weight: 9 }).meta({ fetch: true }))),
      destroyed: byId(await use(pet.destroy({ id: P5 }).meta({ fetch: true }))),
    }),
  },
  {
    name: 'where with or and in (and nin, !=, comparisons)',
    readOnly: true,
    run: async ({ owner, pet }, use) => ({
      or: names(await use(owner.find({ where: { or: [{ age: 25 }, { name: { in: ['bob', 'dan'] } }] }, sort: 'name ASC' }))),
      nin: names(await use(pet.find({ where: { kind: { nin: ['cat', 'dog'] }, weight: { '!=': 2 } }, sort: 'name ASC' }))),
      range: names(await use(owner.find({ where: { age: { '>=': 25, '<': 40 } }, sort: 'name ASC' }))),
      and: names(await use(pet.find({ where: { and: [{ weight: { '>': 1 } }, { or: [{ kind: 'cat' }, { owner: O3 }] }] }, sort: 'name ASC' }))),
    }),
  },
  {
    name: 'update by or/in criteria, then read it back',
    run: async ({ pet }, use) => {
      await use(pet.update({ or: [{ id: { in: [P1, P2] } }, { kind: 'fish', weight: { '>': 1 } }] }).set({ weight: 20 }));
      return names(await use(pet.find({ weight: 20 }).sort('name ASC')));
    },
  },
  {
    name: 'where with contains',
    readOnly: true,
    refused: 'unsupported_query',
    run: async ({ owner }, use) => names(await use(owner.find({ where: { name: { contains: 'a' } }, sort: 'name ASC' }))),
  },
  {
    name: 'where with startsWith (an update)',
    refused: 'unsupported_query',
    run: async ({ owner }, use) => {
      await use(owner.updateOne({ id: O4 }).set({ age: 1 }));
      return byId(await use(owner.update({ name: { startsWith: 'b' } }).set({ age: 50 }).fetch()));
    },
  },
  {
    name: '.limit(0)',
    readOnly: true,
    run: async ({ owner }, use) => ({ find: await use(owner.find().limit(0)), where: await use(owner.find({ where: { age: 40 }, limit: 0 })) }),
  },
  {
    name: 'addToCollection (a to-many via a to-one: sets the children’s reference)',
    run: async ({ owner }, use) => {
      await use(owner.addToCollection(O4, 'pets').members([P4, P5]));
      return use(owner.findOne({ id: O4 }).populate('pets', { sort: 'name ASC' }));
    },
  },
  {
    name: 'removeFromCollection',
    run: async ({ owner }, use) => {
      await use(owner.removeFromCollection(O1, 'pets').members([P2]));
      return use(owner.findOne({ id: O1 }).populate('pets'));
    },
  },
  {
    name: 'replaceCollection',
    run: async ({ owner }, use) => {
      await use(owner.replaceCollection(O1, 'pets').members([P3, P4]));
      return use(owner.find({ id: { in: [O1, O2] } }).sort('id ASC').populate('pets', { sort: 'name ASC' }));
    },
  },
  {
    name: 'stream with eachRecord',
    readOnly: true,
    run: async ({ pet }, use) => {
      const seen: unknown[] = [];
      await use(
        pet
          .stream({ where: { weight: { '>': 1 } } })
          .sort('name ASC')
          .eachRecord((record) => {
            seen.push(record.name);
          }),
      );
      return seen;
    },
  },
  {
    name: 'archive and archiveOne',
    // Its archive has an auto-increment key there (sails-postgresql requires one or a required key);
    // the engine chooses ids before inserting.
    refused: { postgresql: 'unsupported_query' },
    run: async ({ pet }, use) => {
      await use(pet.archive({ kind: 'fish' }));
      await use(pet.archiveOne({ id: P4 }));
      return names(await use(pet.find().sort('name ASC')));
    },
  },
  {
    name: 'chained .where(), where on null and != null',
    readOnly: true,
    run: async ({ owner }, use) => ({
      chained: names(await use(owner.find().where({ age: 40 }).sort('name DESC'))),
      isNull: names(await use(owner.find({ tier: null }).sort('name ASC'))),
      notNull: names(await use(owner.find({ tier: { '!=': null } }).sort('name ASC'))),
    }),
  },
  {
    name: 'where with like and endsWith',
    readOnly: true,
    refused: 'unsupported_query',
    run: async ({ owner }, use) => ({ like: await use(owner.find({ name: { like: '%a%' } })), endsWith: await use(owner.find({ email: { endsWith: '.com' } })) }),
  },
  {
    name: 'sum, avg and count over no records',
    readOnly: true,
    noPlainOn: { mongo: 'FerretDB, the suite’s MongoDB, does not implement $avg' },
    run: async ({ pet }, use) => ({ sum: await use(pet.sum('weight', { kind: 'bird' })), avg: await use(pet.avg('weight', { kind: 'bird' })), count: await use(pet.count({ kind: 'bird' })) }),
  },
  {
    name: 'findOne and updateOne matching several records: Waterline’s own error',
    run: async ({ owner }, use) => {
      const findOne = await Promise.resolve(use(owner.findOne({ age: 40 }))).then(
        () => 'found one',
        (err: unknown) => (err as { name?: string }).name,
      );
      await use(owner.updateOne({ age: 40 }).set({ tier: 'x' }));
      return findOne;
    },
  },
  {
    name: 'update and destroy matching nothing, with .fetch()',
    run: async ({ owner, pet }, use) => ({ updated: await use(owner.update({ age: 1 }).set({ tier: 'x' }).fetch()), destroyed: await use(pet.destroy({ kind: 'bird' }).fetch()) }),
  },
  {
    name: 'destroy every record ({}), then create again',
    run: async ({ pet }, use) => {
      const gone = byId(await use(pet.destroy({}).fetch()));
      await use(pet.create({ id: P1, name: 'rex again' }));
      return { gone: gone.map((row) => row.id), left: names(await use(pet.find())) };
    },
  },
  {
    name: 'createEach with one id twice: the unique violation fails the transaction',
    run: async ({ pet }, use) => {
      await use(pet.createEach([{ id: P6, name: 'one' }, { id: P6, name: 'two' }]));
    },
  },
  {
    name: 'a destroy then a create of the same id in one transaction',
    run: async ({ pet }, use) => {
      await use(pet.destroyOne({ id: P2 }));
      await use(pet.create({ id: P2, name: 'tom II', kind: 'dog' }));
      return use(pet.findOne({ id: P2 }));
    },
  },
  {
    name: 'changing a primary key',
    refused: 'unsupported_query',
    run: async ({ pet }, use) => use(pet.updateOne({ id: P1 }).set({ id: P6 })),
  },
  {
    name: '.populate() of a missing record, and of a record without a reference',
    readOnly: true,
    run: async ({ owner, pet }, use) => ({ missing: await use(owner.findOne({ id: O5 }).populate('pets')), none: await use(pet.findOne({ id: P4 }).populate('owner')) }),
  },
  {
    name: 'a reference to a missing record (Waterline writes it dangling)',
    // The engine checks a to-one reference names a record that exists (docs/api.md): refused, where Waterline writes it.
    refused: 'reference_not_found',
    run: async ({ owner, pet }, use) => {
      await use(owner.updateOne({ id: O1 }).set({ age: 31 }));
      await use(pet.updateOne({ id: P4 }).set({ owner: O5 }));
      return use(pet.findOne({ id: P4 }).populate('owner'));
    },
  },
  {
    name: 'stream with eachBatch',
    readOnly: true,
    run: async ({ owner }, use) => {
      const batches: unknown[] = [];
      await use(
        (owner.stream({ sort: 'name ASC' }).meta({ batchSize: 3 }) as Chain & { eachBatch(each: (batch: Row[]) => void): Chain }).eachBatch((batch) => {
          batches.push(names(batch));
        }),
      );
      return batches;
    },
  },
];

/** What a program did: its result or its error (normalised), and every model's rows after it. */
interface Outcome {
  result?: unknown;
  error?: Row;
  state: Record<string, Row[]>;
}

const VOLATILE = new Set(['createdAt', 'updatedAt']);

/** Timestamps out, recursively: they differ between any two runs. */
function normalised(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalised);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value as Row)
      .filter(([key]) => !VOLATILE.has(key))
      .map(([key, inner]) => [key, normalised(inner)]),
  );
}

/**
 * An error as far as every adapter and path agree on it: a TransactError's code; Waterline's
 * usage errors and unique violations by name and code (their messages quote adapter internals);
 * any other error by its message.
 */
function normalisedError(err: unknown): Row {
  const layers = [err, (err as { raw?: unknown } | null)?.raw];
  const transact = layers.find((layer) => isTransactError(layer));
  if (transact !== undefined) return { transactError: (transact as { code: string }).code };
  const { name, code, message, attrNames } = err as { name?: string; code?: string; message?: string; attrNames?: string[] };
  if (code === 'E_UNIQUE') return { code, attrNames };
  if (name === 'UsageError') return { name, code };
  return { message };
}

async function stateOf(app: DiffApp): Promise<Record<string, Row[]>> {
  const state: Record<string, Row[]> = {};
  for (const identity of DIFF_MODELS) state[identity] = byId(normalised(await app.models[identity].find({})));
  // Archive rows get their ids from the database (a sequence, an ObjectId): what they hold is what counts.
  state.archive = state.archive.map(({ id: _id, ...row }) => row).sort((a, b) => String(a.originalRecordId).localeCompare(String(b.originalRecordId)));
  return state;
}

/** Runs a program inside the app's `datastore.transaction` (the hook's or sails-postgresql's), or plainly. */
async function outcomeOf(app: DiffApp, program: Program, how: 'transaction' | 'plain'): Promise<Outcome> {
  const models = app.models as Models;
  const run = how === 'plain' ? program.run(models, (query) => query) : app.datastore.transaction(async (db) => program.run(models, (query) => query.usingConnection(db)));
  const settled = await Promise.resolve(run).then(
    (result): Pick<Outcome, 'result' | 'error'> => ({ result: normalised(result) }),
    (err: unknown): Pick<Outcome, 'result' | 'error'> => ({ error: normalisedError(err) }),
  );
  return { ...settled, state: await stateOf(app) };
}

/**
 * The reference: each program inside sails-postgresql's own transaction, in an app of its own
 * (the hook installed with its default, `waterlineTransactions: 'native'`), run once per program.
 */
let referenceApp: Promise<DiffApp> | undefined;
const references = new Map<string, Outcome>();
let seeded: Record<string, Row[]> | undefined;

async function reference(program: Program): Promise<Outcome> {
  referenceApp ??= freshTarget('postgresql').then((target) => loadDiffApp(target, {}));
  const app = await referenceApp;
  const known = references.get(program.name);
  if (known !== undefined) return known;
  await app.wipe();
  await seed(app);
  seeded ??= await stateOf(app);
  const outcome = await outcomeOf(app, program, 'transaction');
  references.set(program.name, outcome);
  return outcome;
}

after(async function () {
  if (referenceApp !== undefined) await (await referenceApp).lower();
});

/** A plain function (not `async`) that returns a promise: a write, then a rejection. */
function plainDuring(app: DiffApp): (db: unknown) => Promise<unknown> {
  return (db) =>
    Promise.resolve(app.models.owner.updateOne({ id: O1 }).set({ age: 77 }).usingConnection(db)).then(() => {
      throw new Error('after the write');
    });
}

async function ageOfAnn(app: DiffApp): Promise<unknown> {
  return ((await app.models.owner.findOne({ id: O1 })) as Row).age;
}

describe("sails-postgresql's own transaction and a plain function", function () {
  it('commits at once when handed a plain function returning a promise (it waits only for an async function)', async function () {
    if (process.env.PG_URL === undefined && !required('postgresql')) this.skip();
    referenceApp ??= freshTarget('postgresql').then((target) => loadDiffApp(target, {}));
    const app = await referenceApp;
    await app.wipe();
    await seed(app);
    const outcome = await Promise.resolve(app.datastore.transaction(plainDuring(app))).then(
      () => null,
      (err: unknown) => err,
    );
    // The rejection still reaches the caller (the result was the promise), but the write stayed.
    expect((outcome as Error | null)?.message).to.equal('after the write');
    expect(await ageOfAnn(app)).to.equal(77);
  });
});

/** The protocols each adapter runs Waterline's API on: the default, and log protocol v3 where it runs. */
function protocolsOf(adapter: AdapterName): Protocol[] {
  const defaults: Protocol[] = adapter === 'postgresql' ? ['native', 'log'] : ['log'];
  return REDO_ADAPTERS.includes(adapter) ? [...defaults, 'redo'] : defaults;
}

forEachAdapter('waterline differential', (target, adapter) => {
  for (const protocol of protocolsOf(adapter)) {
    describe(`protocol ${protocol}`, function () {
      let app: DiffApp | undefined;
      before(async function () {
        this.timeout(120_000);
        // A PostgreSQL reference is the yardstick; without a server (and not required) there is nothing to compare with.
        if (process.env.PG_URL === undefined && !required('postgresql')) this.skip();
        app = await loadDiffApp(target(), { ...protocolConfig(protocol), waterlineTransactions: 'engine' });
      });
      after(async function () {
        if (app !== undefined) await app.lower();
      });

      for (const program of PROGRAMS) {
        const refused = typeof program.refused === 'string' ? program.refused : program.refused?.[adapter];
        it(refused === undefined ? program.name : `${program.name}: refused (${refused}), nothing written`, async function () {
          const expected = await reference(program);
          const loaded = app as DiffApp;
          await loaded.wipe();
          await seed(loaded);
          const outcome = await outcomeOf(loaded, program, 'transaction');
          if (refused !== undefined) {
            expect(outcome.error, JSON.stringify(outcome.result)).to.deep.equal({ transactError: refused });
            expect(outcome.state, 'nothing of a refused program is written').to.deep.equal(seeded);
            return;
          }
          expect(outcome, 'against sails-postgresql’s own transaction').to.deep.equal(expected);
          if (program.readOnly === true && program.noPlainOn?.[adapter] === undefined) {
            await loaded.wipe();
            await seed(loaded);
            expect(outcome, `against plain Waterline on ${adapter}`).to.deep.equal(await outcomeOf(loaded, program, 'plain'));
          }
        });
      }

      it('waits for the promise a plain function (not async) returns: its rejection rolls the write back', async function () {
        const loaded = app as DiffApp;
        await loaded.wipe();
        await seed(loaded);
        const outcome = await Promise.resolve(loaded.datastore.transaction(plainDuring(loaded))).then(
          () => null,
          (err: unknown) => err,
        );
        expect((outcome as Error | null)?.message).to.equal('after the write');
        expect(await ageOfAnn(loaded)).to.equal(30);
      });
    });
  }
});
