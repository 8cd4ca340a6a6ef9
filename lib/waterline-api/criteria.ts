/**
 * Waterline's criteria, as the engine re-checks them: pure functions over stage-3 queries (the
 * normalized form Waterline hands its adapters, in column names).
 *
 * Why re-check at all: an update or destroy "by criteria" first asks the adapter which documents
 * match (a plain read), then locks each one. Between the two, another transaction may have
 * changed a document; so after locking, the locked image is matched again here, and a document
 * that stopped matching is skipped. That needs the same answer the adapter would give, on every
 * adapter: only operators whose meaning is the same on sails-disk, sails-mongo and
 * sails-postgresql are accepted (equality, in/nin, comparisons, and/or). `like` (and
 * contains/startsWith/endsWith, which Waterline turns into `like`) differs in case handling
 * between adapters, so it is refused (`unsupported_query`) rather than answered differently.
 * A stage-3 where clause is translated here into committed reads' where clause (attribute names),
 * and matched and ordered by committed reads' own matcher and comparator (lib/query/criteria.ts):
 * one meaning of a where clause, of equality and of order in the hook.
 */
import { TransactError } from '../core/errors';
import { comparator, isScalar, MAX_WHERE_DEPTH, type Scalar, type SortClause, type Where } from '../query/criteria';
import type { Image } from '../core/types';
import { columnOf } from '../core/waterline';

/** Column name ↔ attribute name, for one model (sails-mongo's primary key is the `_id` column). */
export interface ColumnMap {
  toAttribute: ReadonlyMap<string, string>;
  toColumn: ReadonlyMap<string, string>;
}

export function columnMap(attributes: Record<string, { columnName?: string }>): ColumnMap {
  const toAttribute = new Map<string, string>();
  const toColumn = new Map<string, string>();
  for (const name of Object.keys(attributes)) {
    const column = columnOf(attributes, name);
    toAttribute.set(column, name);
    toColumn.set(name, column);
  }
  return { toAttribute, toColumn };
}

/** A record in column names → attribute names (unknown columns keep their name). */
export function fromColumns(record: Record<string, unknown>, columns: ColumnMap): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(record)) out[columns.toAttribute.get(column) ?? column] = value;
  return out;
}

/** A record in attribute names → column names, as an adapter returns it to Waterline. */
export function toColumns(record: Record<string, unknown>, columns: ColumnMap): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(record)) out[columns.toColumn.get(name) ?? name] = value;
  return out;
}

const COMPARISONS = new Set(['<', '<=', '>', '>=', '!=']);

function unsupported(model: string, message: string): TransactError {
  return new TransactError('unsupported_query', `${model}: ${message} inside an engine transaction; nothing was run`, { details: { model } });
}

function scalar(value: unknown, model: string, column: string): Scalar {
  if (!isScalar(value)) throw unsupported(model, `criteria on "${column}" compare with ${Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : String(value)}, which the engine cannot re-check (only strings, numbers, booleans and null)`);
  return value;
}

/**
 * Translates a stage-3 where clause (column names) into a where clause on attribute names, as
 * committed reads' `matches` takes it; throws `unsupported_query` for what the engine cannot
 * re-check the way every adapter would.
 */
export function compileWhere(where: unknown, columns: ColumnMap, model: string, depth = 0): Where {
  if (where === undefined || where === null) return {};
  if (typeof where !== 'object' || Array.isArray(where)) throw unsupported(model, `a where clause ${JSON.stringify(where)}`);
  const entries: [string, unknown][] = [];
  for (const [key, constraint] of Object.entries(where as Record<string, unknown>)) {
    if (key === 'and' || key === 'or') {
      if (!Array.isArray(constraint)) throw unsupported(model, `"${key}" without an array`);
      if (depth >= MAX_WHERE_DEPTH) throw unsupported(model, `and/or nested deeper than ${MAX_WHERE_DEPTH} levels`);
      // A null clause would compile to "everything": `or: [null]` must not match every document.
      if (constraint.some((clause) => clause === null || typeof clause !== 'object' || Array.isArray(clause))) throw unsupported(model, `"${key}" with a clause that is not an object`);
      entries.push([key, constraint.map((clause) => compileWhere(clause, columns, model, depth + 1))]);
      continue;
    }
    const attribute = columns.toAttribute.get(key) ?? key;
    if (constraint === null || typeof constraint !== 'object') {
      entries.push([attribute, scalar(constraint, model, key)]);
      continue;
    }
    if (Array.isArray(constraint)) throw unsupported(model, `criteria on "${key}" with an array (use {in: [...]})`);
    const modifiers: [string, unknown][] = [];
    for (const [modifier, operand] of Object.entries(constraint as Record<string, unknown>)) {
      if (modifier === 'in' || modifier === 'nin') {
        if (!Array.isArray(operand)) throw unsupported(model, `"${modifier}" on "${key}" without an array`);
        modifiers.push([modifier, operand.map((value) => scalar(value, model, key))]);
      } else if (COMPARISONS.has(modifier)) {
        modifiers.push([modifier, scalar(operand, model, key)]);
      } else {
        throw unsupported(model, `the "${modifier}" modifier on "${key}" (its meaning differs between adapters, so a locked document could not be re-checked)`);
      }
    }
    entries.push([attribute, Object.fromEntries(modifiers)]);
  }
  // Own keys only (fromEntries: even a "__proto__" column stays a key); two columns naming one
  // attribute are both kept, as an `and`.
  const distinct = new Set(entries.map(([key]) => key)).size === entries.length;
  return distinct ? Object.fromEntries(entries) : { and: entries.map((entry) => Object.fromEntries([entry])) };
}

/** The ids one constraint on the primary key restricts it to (`x`, `{in: [...]}`), or null. */
function idsOf(constraint: unknown): string[] | null {
  if (isScalar(constraint)) return constraint === null ? null : [String(constraint)];
  let ids: string[] | null = null;
  for (const [modifier, operand] of Object.entries(constraint as Record<string, unknown>)) {
    if (modifier !== 'in') continue;
    const found = (operand as Scalar[]).filter((value) => value !== null).map(String);
    ids = ids === null ? found : ids.filter((id) => found.includes(id));
  }
  return ids;
}

/**
 * The ids a where clause (compileWhere's) restricts the primary key to (`{id: x}`,
 * `{id: {in: [...]}}`, or either inside an `and`, or in every branch of an `or`), or null when it
 * does not: then the candidates must be asked of the adapter.
 */
export function restrictedIds(where: Where, primaryKey: string): string[] | null {
  let ids: string[] | null = null;
  const narrow = (found: string[] | null): void => {
    if (found !== null) ids = ids === null ? found : ids.filter((id) => found.includes(id));
  };
  for (const [key, constraint] of Object.entries(where)) {
    if (key === 'and') for (const clause of constraint as Where[]) narrow(restrictedIds(clause, primaryKey));
    else if (key === 'or') narrow(anyIds(constraint as Where[], primaryKey));
    else if (key === primaryKey) narrow(idsOf(constraint));
  }
  return ids;
}

function anyIds(clauses: readonly Where[], primaryKey: string): string[] | null {
  const all: string[] = [];
  for (const clause of clauses) {
    const found = restrictedIds(clause, primaryKey);
    if (found === null) return null;
    all.push(...found);
  }
  return all;
}

/**
 * Sorts documents (attribute names) by a stage-3 sort clause (column names), with committed
 * reads' comparator; stable, so ties keep their order.
 */
export function sortImages(images: readonly Image[], sort: SortClause | undefined, columns: ColumnMap): Image[] {
  const byAttribute = (sort ?? []).flatMap((entry) => Object.entries(entry).map(([column, direction]): SortClause[number] => ({ [columns.toAttribute.get(column) ?? column]: direction === 'DESC' ? 'DESC' : 'ASC' })));
  return [...images].sort(comparator(byAttribute));
}

/** `skip` and `limit`, as Waterline gives them (limit may be Number.MAX_SAFE_INTEGER). */
export function window<T>(items: readonly T[], skip: number | undefined, limit: number | undefined): T[] {
  const start = skip ?? 0;
  return items.slice(start, limit === undefined ? undefined : start + limit);
}
