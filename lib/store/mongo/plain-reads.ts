/**
 * Plain Waterline queries on log protocol v3's collections (sails-mongo): the app's own
 * `find`/`findOne`/`count`/`sum`/`avg`/`update`/`destroy` go to sails-mongo directly, and the
 * documents there also hold stubs and tombstones (lib/store/mongo/records.ts). Wrapping the
 * adapter's methods, this ANDs "not a stub nor a tombstone" into every such query's where, so that
 * a plain read never counts one and a plain update or destroy never touches one (a tombstone is
 * what keeps its id taken: it is never deleted), and strips the hook's hidden fields from the
 * records returned. The engine's own record reads use the driver, not these methods.
 */
import { RECORD_FIELDS, STATE_FIELD, WRITE_FIELD } from './store';

/** What a plain query never returns (the v2 fence is hideFenceField's: the engine's v2 reads keep it). */
const STRIPPED = [...RECORD_FIELDS, WRITE_FIELD];

type Done = (err: unknown, result?: unknown) => void;
interface StageThreeQuery {
  using?: string;
  criteria?: { where?: Record<string, unknown> };
  meta?: { transactRecords?: boolean };
}
type AdapterMethod = (datastore: string, query: StageThreeQuery, done: Done) => void;

const FILTERED = ['find', 'count', 'sum', 'avg', 'update', 'destroy'] as const;
/** Those whose result may be records (update and destroy with `fetch`). */
const RETURNS_RECORDS = new Set<string>(['find', 'update', 'destroy']);

// Symbol.for: Sails may load this module twice (it clears user hooks from the require cache).
const TABLES = Symbol.for('sails-hook-transact.recordTables');

/** The stage-3 where, and "no `_transactState`" (null matches an absent field). */
export function withoutRecords(where: Record<string, unknown> | undefined): Record<string, unknown> {
  const live = { [STATE_FIELD]: null };
  return where === undefined || Object.keys(where).length === 0 ? live : { and: [where, live] };
}

/**
 * Wraps `adapter` (sails-mongo's adapter object) once; `tables` (collection names) join the set
 * whose queries are filtered. Other collections (the hook's log and locks) pass unchanged.
 */
export function hideRecords(adapter: object, tables: readonly string[]): void {
  const slots = adapter as Record<string | symbol, unknown>;
  const known = slots[TABLES] as Set<string> | undefined;
  if (known !== undefined) {
    for (const table of tables) known.add(table);
    return;
  }
  const filtered = new Set(tables);
  slots[TABLES] = filtered;
  for (const name of FILTERED) {
    const original = slots[name];
    if (typeof original !== 'function') continue;
    const method = (original as AdapterMethod).bind(adapter);
    slots[name] = ((datastore, query, done) => {
      if (query.using === undefined || !filtered.has(query.using)) return method(datastore, query, done);
      const criteria = query.criteria ?? (query.criteria = {});
      criteria.where = withoutRecords(criteria.where);
      method(datastore, query, (err, result) => {
        if ((err === null || err === undefined) && RETURNS_RECORDS.has(name) && Array.isArray(result)) {
          // The engine's committed reads (MongoRecords.view) ask to keep the record fields: versions and locks.
          const stripped = query.meta?.transactRecords === true ? [WRITE_FIELD] : STRIPPED;
          for (const record of result as Record<string, unknown>[]) for (const field of stripped) delete record[field];
        }
        done(err, result);
      });
    }) satisfies AdapterMethod;
  }
}
