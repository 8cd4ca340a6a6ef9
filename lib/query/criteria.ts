/**
 * Criteria of committed reads, as pure functions: parsing (Waterline's shapes, refused with a
 * TransactError and a path when they are not understood), matching a document in memory, and
 * ordering documents.
 *
 * Why in memory at all: a document an unfinished transaction holds is answered with its committed
 * image (the transaction's before-image), which lives in the log, not in the datastore. Whether
 * that image matches the query, and where it sorts, must be decided here. So committed reads
 * accept only what this module decides exactly like the datastores do: equality, `in`/`nin`,
 * `<`, `<=`, `>`, `>=`, `!=`, `and`, `or`. String modifiers (`contains`, `like`, `startsWith`,
 * `endsWith`) are refused, never guessed: their case rules differ per adapter.
 */
import { TransactError } from '../core/errors';
import { hasAttribute, type ModelInfo } from '../core/model-info';
import type { Image } from '../core/types';

export type Direction = 'ASC' | 'DESC';
/** Waterline's normalized sort: `[{attribute: 'ASC'}, …]`. */
export type SortClause = Record<string, Direction>[];
export type Where = Record<string, unknown>;

/** A query, checked against its model: where (attribute names), sort (primary key last, always), skip, limit. */
export interface ParsedQuery {
  where: Where;
  sort: SortClause;
  skip: number;
  /** undefined: every match. */
  limit: number | undefined;
}

const COMPARISONS = ['<', '<=', '>', '>=', '!='] as const;
const LISTS = ['in', 'nin'] as const;
const STRING_MODIFIERS = ['contains', 'like', 'startsWith', 'endsWith'];
const CRITERIA_KEYS = new Set(['where', 'sort', 'skip', 'limit', 'select', 'omit']);

/** How strictly to parse: a query from outside (HTTP) may not name the model's hidden attributes. */
export interface ParseOptions {
  refuseHidden?: boolean;
}

/**
 * What a client may not read, it may not filter or order by either (a where on a password hash
 * reveals it a prefix at a time): checked on the name, before its constraint.
 */
function refuseIfHidden(info: ModelInfo, name: string, path: string, options: ParseOptions): void {
  if (options.refuseHidden === true && info.hidden.includes(name)) refuse(`${info.identity}.${name} is hidden: it cannot be used in criteria`, path, 'hidden_attribute');
}

function refuse(message: string, path: string, code: 'validation_failed' | 'unknown_attribute' | 'hidden_attribute' = 'validation_failed'): never {
  throw new TransactError(code, message, { path });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value a where clause may compare with: what JSON can carry, except objects and lists. */
export type Scalar = string | number | boolean | null;

export function isScalar(value: unknown): value is Scalar {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * How deep `and`/`or` may nest. Real queries nest two or three levels; every walk of a where
 * clause (here, Waterline's, the adapters') recurses, so an unbounded one is a stack overflow
 * any reader could cause.
 */
export const MAX_WHERE_DEPTH = 8;

/** The type a constraint's operands must have, from the attribute (associations hold ids: strings); null for json/ref. */
function operandType(info: ModelInfo, name: string): 'number' | 'string' | 'boolean' | null {
  const attribute = info.attributes[name];
  if (attribute.model !== undefined) return 'string';
  return attribute.type === 'number' || attribute.type === 'string' || attribute.type === 'boolean' ? attribute.type : null;
}

/**
 * Checks a where clause against the model and returns it unchanged in meaning (arrays given as a
 * value become `{in: […]}`, as Waterline reads them).
 */
export function parseWhere(info: ModelInfo, where: unknown, path = 'where', options: ParseOptions = {}, depth = 0): Where {
  if (where === undefined || where === null) return {};
  return parseClause(info, where, path, options, depth);
}

function parseClause(info: ModelInfo, where: unknown, path: string, options: ParseOptions, depth: number): Where {
  if (!isPlainObject(where)) refuse('a where clause must be an object', path);
  const out: Where = {};
  for (const [key, value] of Object.entries(where)) {
    if (key === 'and' || key === 'or') {
      if (!Array.isArray(value) || value.length === 0) refuse(`${key} takes a non-empty array of where clauses`, `${path}.${key}`);
      if (depth >= MAX_WHERE_DEPTH) refuse(`and/or may nest at most ${MAX_WHERE_DEPTH} levels`, `${path}.${key}`);
      // Each clause an object: `or: [null]` would otherwise read as `{}`, which matches every row.
      out[key] = value.map((clause, i) => parseClause(info, clause, `${path}.${key}.${i}`, options, depth + 1));
      continue;
    }
    if (!hasAttribute(info, key)) refuse(`${info.identity} has no attribute "${key}"`, `${path}.${key}`, 'unknown_attribute');
    refuseIfHidden(info, key, `${path}.${key}`, options);
    out[key] = parseConstraint(value, `${path}.${key}`, operandType(info, key));
  }
  return out;
}

/**
 * Operands of the attribute's own type only (or null): a string compared with a number is
 * answered differently by each datastore (PostgreSQL fails the query, MongoDB matches nothing,
 * NeDB compares as JavaScript does), so it is refused, never guessed.
 */
function checkOperand(operand: unknown, type: 'number' | 'string' | 'boolean' | null, path: string): void {
  if (type !== null && operand !== null && typeof operand !== type) refuse(`a ${type} attribute is compared with ${type}s only (or null)`, path);
}

function parseConstraint(value: unknown, path: string, type: 'number' | 'string' | 'boolean' | null): unknown {
  if (isScalar(value)) {
    checkOperand(value, type, path);
    return value;
  }
  if (Array.isArray(value)) return parseConstraint({ in: value }, path, type);
  if (!isPlainObject(value)) refuse('a constraint is a scalar, a list, or an object of modifiers', path);
  const keys = Object.keys(value);
  if (keys.length === 0) refuse('an empty modifier object matches nothing sensible', path);
  const out: Record<string, unknown> = {};
  for (const [modifier, operand] of Object.entries(value)) {
    if ((LISTS as readonly string[]).includes(modifier)) {
      if (!Array.isArray(operand) || !operand.every(isScalar)) refuse(`${modifier} takes a list of scalars`, `${path}.${modifier}`);
      operand.forEach((item, i) => checkOperand(item, type, `${path}.${modifier}.${i}`));
      out[modifier] = operand;
    } else if ((COMPARISONS as readonly string[]).includes(modifier)) {
      if (!isScalar(operand) || (modifier !== '!=' && operand === null)) refuse(`${modifier} takes a number, string or boolean`, `${path}.${modifier}`);
      checkOperand(operand, type, `${path}.${modifier}`);
      out[modifier] = operand;
    } else if (STRING_MODIFIERS.includes(modifier)) {
      refuse(`committed reads do not support "${modifier}" (its case rules differ per adapter); use equality, in, nin, <, <=, >, >=, !=`, `${path}.${modifier}`);
    } else {
      refuse(`unknown modifier "${modifier}"`, `${path}.${modifier}`);
    }
  }
  return out;
}

/** `'a ASC, b DESC'`, `[{a: 'ASC'}]`, `{a: 'ASC'}` or `{a: 1}` → `[{a: 'ASC'}, …, {pk: 'ASC'}]`. */
export function parseSort(info: ModelInfo, sort: unknown, path = 'sort', options: ParseOptions = {}): SortClause {
  const out: SortClause = [];
  const add = (attribute: string, direction: unknown, at: string): void => {
    if (!hasAttribute(info, attribute)) refuse(`${info.identity} has no attribute "${attribute}"`, at, 'unknown_attribute');
    refuseIfHidden(info, attribute, at, options);
    const dir = typeof direction === 'string' ? direction.toUpperCase() : direction === 1 ? 'ASC' : direction === -1 ? 'DESC' : undefined;
    if (dir !== 'ASC' && dir !== 'DESC') refuse('a sort direction is ASC or DESC', at);
    if (!out.some((clause) => clause[attribute] !== undefined)) out.push({ [attribute]: dir });
  };
  if (typeof sort === 'string') {
    sort.split(',').map((part) => part.trim()).filter((part) => part !== '').forEach((part, i) => {
      const [attribute, direction = 'ASC', ...rest] = part.split(/\s+/);
      if (rest.length > 0) refuse('a sort is "attribute [ASC|DESC]", comma separated', `${path}.${i}`);
      add(attribute, direction, `${path}.${i}`);
    });
  } else if (Array.isArray(sort)) {
    sort.forEach((clause, i) => {
      if (!isPlainObject(clause) || Object.keys(clause).length !== 1) refuse('each sort clause is {attribute: "ASC"|"DESC"}', `${path}.${i}`);
      const [[attribute, direction]] = Object.entries(clause);
      add(attribute, direction, `${path}.${i}`);
    });
  } else if (isPlainObject(sort)) {
    for (const [attribute, direction] of Object.entries(sort)) add(attribute, direction, `${path}.${attribute}`);
  } else if (sort !== undefined && sort !== null) {
    refuse('a sort is a string, a list of {attribute: direction}, or an object', path);
  }
  // The primary key breaks ties, in the datastore and here alike: pages are stable, and the
  // merge of committed images into the datastore's order is well defined.
  if (!out.some((clause) => clause[info.primaryKey] !== undefined)) out.push({ [info.primaryKey]: 'ASC' });
  return out;
}

function parseCount(value: unknown, name: 'skip' | 'limit'): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) refuse(`${name} is a non-negative integer`, name);
  return value;
}

/**
 * A query in any of Waterline's shapes: `{where, sort, skip, limit}`, or a bare where clause.
 * `select`/`omit` are refused (images are whole documents).
 */
export function parseQuery(info: ModelInfo, input: unknown, options: ParseOptions = {}): ParsedQuery {
  if (input === undefined || input === null) return { where: {}, sort: parseSort(info, undefined), skip: 0, limit: undefined };
  if (!isPlainObject(input)) refuse('criteria must be an object', 'criteria');
  const keys = Object.keys(input);
  const isCriteria = keys.length > 0 && keys.every((key) => CRITERIA_KEYS.has(key));
  if (!isCriteria) return { where: parseWhere(info, input, 'where', options), sort: parseSort(info, undefined), skip: 0, limit: undefined };
  if (input.select !== undefined || input.omit !== undefined) refuse('committed reads return whole documents: no select/omit', input.select !== undefined ? 'select' : 'omit');
  return { where: parseWhere(info, input.where, 'where', options), sort: parseSort(info, input.sort, 'sort', options), skip: parseCount(input.skip, 'skip') ?? 0, limit: parseCount(input.limit, 'limit') };
}

// ---------------------------------------------------------------------------------------------
// Matching and ordering

/** Where nulls sort: PostgreSQL puts them after every value in ASC; MongoDB and NeDB before. */
export type NullOrder = 'first' | 'last';

function rank(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') return 1;
  if (typeof value === 'string') return 2;
  if (typeof value === 'boolean') return 3;
  return 4;
}

/** Orders two attribute values like the datastores do for the scalars committed reads accept. */
export function compareValues(a: unknown, b: unknown, nulls: NullOrder = 'first'): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra === 0 || rb === 0) {
    if (ra === rb) return 0;
    const nullFirst = nulls === 'first' ? -1 : 1;
    return ra === 0 ? nullFirst : -nullFirst;
  }
  if (ra !== rb) return ra - rb;
  if (ra === 4) return JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0;
  return (a as number | string | boolean) < (b as number | string | boolean) ? -1 : (a as number | string | boolean) > (b as number | string | boolean) ? 1 : 0;
}

/** Equality as every datastore decides it for scalars (absent and null are the same). */
export function sameValue(a: unknown, b: unknown): boolean {
  return (a ?? null) === (b ?? null);
}

function matchesConstraint(value: unknown, constraint: unknown): boolean {
  if (!isPlainObject(constraint)) return sameValue(value, constraint);
  return Object.entries(constraint).every(([modifier, operand]) => {
    switch (modifier) {
      case 'in':
        return (operand as unknown[]).some((item) => sameValue(value, item));
      case 'nin':
        return !(operand as unknown[]).some((item) => sameValue(value, item));
      case '!=':
        return !sameValue(value, operand);
      default: {
        // Comparisons never match null, and only compare values of one kind (as SQL and MongoDB do).
        if (value === null || value === undefined || rank(value) !== rank(operand)) return false;
        const order = compareValues(value, operand);
        return modifier === '<' ? order < 0 : modifier === '<=' ? order <= 0 : modifier === '>' ? order > 0 : order >= 0;
      }
    }
  });
}

/** Whether a document matches a where clause that parseWhere accepted. */
export function matches(doc: Image, where: Where): boolean {
  return Object.entries(where).every(([key, constraint]) => {
    if (key === 'and') return (constraint as Where[]).every((clause) => matches(doc, clause));
    if (key === 'or') return (constraint as Where[]).some((clause) => matches(doc, clause));
    return matchesConstraint(doc[key], constraint);
  });
}

/** A comparator for a parsed sort. */
export function comparator(sort: SortClause, nulls: NullOrder = 'first'): (a: Image, b: Image) => number {
  return (a, b) => {
    for (const clause of sort) {
      const [[attribute, direction]] = Object.entries(clause);
      const order = compareValues(a[attribute], b[attribute], nulls);
      if (order !== 0) return direction === 'ASC' ? order : -order;
    }
    return 0;
  };
}
