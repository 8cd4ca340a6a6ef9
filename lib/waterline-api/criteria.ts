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
 * Values are compared and ordered as committed reads do (lib/reads/criteria.ts): one meaning of
 * equality and order in the hook.
 */
import { TransactError } from '../errors';
import { compareValues, isScalar, MAX_WHERE_DEPTH, type Scalar, sameValue } from '../reads/criteria';
import type { Image } from '../types';
import { columnOf } from '../waterline';

export type Comparison = 'eq' | 'ne' | 'lt' | 'lte' | 'gt' | 'gte';

/** A where clause, compiled against attribute names. */
export type Condition =
  | { kind: 'all'; conditions: Condition[] }
  | { kind: 'any'; conditions: Condition[] }
  | { kind: 'compare'; attribute: string; comparison: Comparison; value: Scalar }
  | { kind: 'in'; attribute: string; values: Scalar[]; negated: boolean };

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

const COMPARISONS: Record<string, Comparison> = { '<': 'lt', '<=': 'lte', '>': 'gt', '>=': 'gte', '!=': 'ne' };

function unsupported(model: string, message: string): TransactError {
  return new TransactError('unsupported_query', `${model}: ${message} inside an engine transaction; nothing was run`, { details: { model } });
}

function scalar(value: unknown, model: string, column: string): Scalar {
  if (!isScalar(value)) throw unsupported(model, `criteria on "${column}" compare with ${Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : String(value)}, which the engine cannot re-check (only strings, numbers, booleans and null)`);
  return value;
}

/**
 * Compiles a stage-3 where clause (column names) into a Condition on attribute names; throws
 * `unsupported_query` for what the engine cannot re-check the way every adapter would.
 */
export function compileWhere(where: unknown, columns: ColumnMap, model: string, depth = 0): Condition {
  if (where === undefined || where === null) return { kind: 'all', conditions: [] };
  if (typeof where !== 'object' || Array.isArray(where)) throw unsupported(model, `a where clause ${JSON.stringify(where)}`);
  const conditions: Condition[] = [];
  for (const [key, constraint] of Object.entries(where as Record<string, unknown>)) {
    if (key === 'and' || key === 'or') {
      if (!Array.isArray(constraint)) throw unsupported(model, `"${key}" without an array`);
      if (depth >= MAX_WHERE_DEPTH) throw unsupported(model, `and/or nested deeper than ${MAX_WHERE_DEPTH} levels`);
      // A null clause would compile to "everything": `or: [null]` must not match every document.
      if (constraint.some((clause) => clause === null || typeof clause !== 'object' || Array.isArray(clause))) throw unsupported(model, `"${key}" with a clause that is not an object`);
      const inner = constraint.map((clause) => compileWhere(clause, columns, model, depth + 1));
      conditions.push({ kind: key === 'and' ? 'all' : 'any', conditions: inner });
      continue;
    }
    const attribute = columns.toAttribute.get(key) ?? key;
    if (constraint === null || typeof constraint !== 'object') {
      conditions.push({ kind: 'compare', attribute, comparison: 'eq', value: scalar(constraint, model, key) });
      continue;
    }
    if (Array.isArray(constraint)) throw unsupported(model, `criteria on "${key}" with an array (use {in: [...]})`);
    for (const [modifier, operand] of Object.entries(constraint as Record<string, unknown>)) {
      if (modifier === 'in' || modifier === 'nin') {
        if (!Array.isArray(operand)) throw unsupported(model, `"${modifier}" on "${key}" without an array`);
        conditions.push({ kind: 'in', attribute, values: operand.map((value) => scalar(value, model, key)), negated: modifier === 'nin' });
      } else if (Object.prototype.hasOwnProperty.call(COMPARISONS, modifier)) {
        conditions.push({ kind: 'compare', attribute, comparison: COMPARISONS[modifier], value: scalar(operand, model, key) });
      } else {
        throw unsupported(model, `the "${modifier}" modifier on "${key}" (its meaning differs between adapters, so a locked document could not be re-checked)`);
      }
    }
  }
  return conditions.length === 1 ? conditions[0] : { kind: 'all', conditions };
}

function compare(actual: unknown, comparison: Comparison, expected: Scalar): boolean {
  if (comparison === 'eq') return sameValue(actual, expected);
  if (comparison === 'ne') return !sameValue(actual, expected);
  // Ordering only between values of one type: every adapter agrees there.
  if (expected === null || actual === null || actual === undefined || typeof actual !== typeof expected) return false;
  const order = compareValues(actual, expected);
  switch (comparison) {
    case 'lt':
      return order < 0;
    case 'lte':
      return order <= 0;
    case 'gt':
      return order > 0;
    case 'gte':
      return order >= 0;
  }
}

/** Whether a document (attribute names) satisfies a condition. */
export function matches(condition: Condition, image: Image): boolean {
  switch (condition.kind) {
    case 'all':
      return condition.conditions.every((inner) => matches(inner, image));
    case 'any':
      return condition.conditions.some((inner) => matches(inner, image));
    case 'compare':
      return compare(image[condition.attribute], condition.comparison, condition.value);
    case 'in': {
      const found = condition.values.some((value) => sameValue(image[condition.attribute], value));
      return condition.negated ? !found : found;
    }
  }
}

/**
 * The ids a condition restricts the primary key to (`{id: x}`, `{id: {in: [...]}}`, or either
 * inside an `and`), or null when it does not: then the candidates must be asked of the adapter.
 */
export function restrictedIds(condition: Condition, primaryKey: string): string[] | null {
  switch (condition.kind) {
    case 'compare':
      return condition.attribute === primaryKey && condition.comparison === 'eq' && condition.value !== null ? [String(condition.value)] : null;
    case 'in':
      return condition.attribute === primaryKey && !condition.negated ? condition.values.filter((value) => value !== null).map(String) : null;
    case 'all': {
      let ids: string[] | null = null;
      for (const inner of condition.conditions) {
        const found = restrictedIds(inner, primaryKey);
        if (found !== null) ids = ids === null ? found : ids.filter((id) => found.includes(id));
      }
      return ids;
    }
    case 'any': {
      const all: string[] = [];
      for (const inner of condition.conditions) {
        const found = restrictedIds(inner, primaryKey);
        if (found === null) return null;
        all.push(...found);
      }
      return all;
    }
  }
}

/** Waterline's stage-3 sort: `[{column: 'ASC' | 'DESC'}, …]`. */
export type SortClause = Array<Record<string, 'ASC' | 'DESC'>>;

/** Sorts documents (attribute names) by a stage-3 sort clause; stable, so ties keep their order. */
export function sortImages(images: readonly Image[], sort: SortClause | undefined, columns: ColumnMap): Image[] {
  const keys = (sort ?? []).flatMap((entry) => Object.entries(entry).map(([column, direction]) => ({ attribute: columns.toAttribute.get(column) ?? column, sign: direction === 'DESC' ? -1 : 1 })));
  if (keys.length === 0) return [...images];
  return [...images].sort((a, b) => {
    for (const { attribute, sign } of keys) {
      const order = compareValues(a[attribute], b[attribute]);
      if (order !== 0) return sign * order;
    }
    return 0;
  });
}

/** `skip` and `limit`, as Waterline gives them (limit may be Number.MAX_SAFE_INTEGER). */
export function window<T>(items: readonly T[], skip: number | undefined, limit: number | undefined): T[] {
  const start = skip ?? 0;
  return items.slice(start, limit === undefined ? undefined : start + limit);
}
