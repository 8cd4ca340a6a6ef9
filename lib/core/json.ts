/**
 * Bounds on the JSON values a transaction writes, and deep equality that never recurses.
 *
 * Why bounds: every written value is kept twice in the log (before- and after-image), forever,
 * and shown again on every read; a value nested a few thousand levels deep overflows the stack
 * of whatever walks it recursively (Node's isDeepStrictEqual at ~1,500 levels, JSON.stringify at
 * ~4,000), and each level costs a pretty-printed answer a line of indentation (an 8 KB value of
 * 1,400 levels read back as 3.9 MB). So a value is refused before anything is logged when it is
 * nested deeper than MAX_JSON_DEPTH or serializes to more than MAX_JSON_BYTES. Both walks here
 * keep their own stack: a value stored before the bounds existed is still compared safely.
 */
import { isDeepStrictEqual } from 'node:util';

/**
 * Containers inside one attribute value (`{}` is 1, `{"a": []}` is 2). Real documents nest a
 * handful of levels; 32 leaves room for any of them and keeps every recursive walk (drivers,
 * JSON.stringify, Waterline) two orders of magnitude below its stack limit.
 */
export const MAX_JSON_DEPTH = 32;

/**
 * Serialized size of one attribute value (UTF-8 bytes, as JSON.stringify writes it). The log keeps
 * it twice per step forever, and a batch of up to `maxOps` steps is one log document (16 MB in
 * MongoDB); 64 KiB is far above a document's attributes and far below that.
 */
export const MAX_JSON_BYTES = 64 * 1024;

export type JsonProblem = { kind: 'non_finite' | 'too_deep' | 'too_large'; path: (string | number)[] };

function isContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  return value !== null && typeof value === 'object' && !(value instanceof Date);
}

/** Bytes a scalar adds to JSON.stringify's output (strings as UTF-8, with their quotes; escapes not counted). */
function scalarBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8') + 2;
  if (value instanceof Date) return 26;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value).length;
  return 4; // null (undefined members are left out or written as null)
}

/**
 * The first problem of a value written to a document: a NaN or ±Infinity (JSON cannot carry
 * them), nesting deeper than `maxDepth`, or more than `maxBytes` of JSON; null when it has none.
 * Iterative, and stops at the first problem: cost is bounded by `maxBytes`, not by the input.
 */
export function jsonProblem(value: unknown, maxDepth = MAX_JSON_DEPTH, maxBytes = MAX_JSON_BYTES): JsonProblem | null {
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }];
  let bytes = 0;
  while (stack.length > 0) {
    const { value: current, path } = stack.pop() as { value: unknown; path: (string | number)[] };
    if (typeof current === 'number' && !Number.isFinite(current)) return { kind: 'non_finite', path };
    if (!isContainer(current)) {
      bytes += scalarBytes(current);
    } else {
      if (path.length >= maxDepth) return { kind: 'too_deep', path };
      const entries: [string | number, unknown][] = Array.isArray(current) ? current.map((item, i) => [i, item]) : Object.entries(current);
      bytes += 2 + Math.max(0, entries.length - 1);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, inner] = entries[i];
        if (typeof key === 'string') bytes += Buffer.byteLength(key, 'utf8') + 3;
        stack.push({ value: inner, path: [...path, key] });
      }
    }
    if (bytes > maxBytes) return { kind: 'too_large', path };
  }
  return null;
}

/** What a JsonProblem means, for an error message about the value at `where`. */
export function describeJsonProblem(problem: JsonProblem, where: string): string {
  switch (problem.kind) {
    case 'non_finite':
      return `"${where}" must be a finite number`;
    case 'too_deep':
      return `"${where}" is nested deeper than ${MAX_JSON_DEPTH} levels`;
    case 'too_large':
      return `"${where}" is larger than ${MAX_JSON_BYTES} bytes of JSON`;
  }
}

/**
 * Deep equality of JSON-like values (plain objects, arrays, Dates, scalars), as Node's
 * isDeepStrictEqual decides it for them, with an explicit stack: any depth, no overflow. Other
 * objects (a driver's ObjectId, a Buffer) are left to isDeepStrictEqual, which compares them flat.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  const pairs: [unknown, unknown][] = [[a, b]];
  while (pairs.length > 0) {
    const [x, y] = pairs.pop() as [unknown, unknown];
    if (Object.is(x, y)) continue;
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
    if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return false;
    if (x instanceof Date) {
      if (!Object.is(x.getTime(), (y as Date).getTime())) return false;
      continue;
    }
    if (Array.isArray(x)) {
      const other = y as unknown[];
      if (x.length !== other.length) return false;
      for (let i = 0; i < x.length; i++) pairs.push([x[i], other[i]]);
      continue;
    }
    const proto: unknown = Object.getPrototypeOf(x);
    if (proto !== Object.prototype && proto !== null) {
      if (!isDeepStrictEqual(x, y)) return false;
      continue;
    }
    const xKeys = Object.keys(x);
    const yObject = y as Record<string, unknown>;
    if (xKeys.length !== Object.keys(yObject).length) return false;
    for (const key of xKeys) {
      if (!Object.prototype.hasOwnProperty.call(yObject, key)) return false;
      pairs.push([(x as Record<string, unknown>)[key], yObject[key]]);
    }
  }
  return true;
}

/**
 * Keys that name an object's prototype machinery. JSON.parse keeps them as plain keys, but a
 * later copy (`{...body}`, Object.assign, joi) drops `__proto__` silently or sets a prototype
 * from it: input carrying one is refused whole, never quietly changed.
 */
export const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The path of the first prototype key anywhere in a parsed input, or null. Iterative: any depth. */
export function prototypeKeyPath(value: unknown): (string | number)[] | null {
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: current, path } = stack.pop() as { value: unknown; path: (string | number)[] };
    if (!isContainer(current)) continue;
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], path: [...path, i] });
      continue;
    }
    const keys = Object.keys(current);
    const found = keys.find((key) => PROTOTYPE_KEYS.has(key));
    if (found !== undefined) return [...path, found];
    for (let i = keys.length - 1; i >= 0; i--) stack.push({ value: current[keys[i]], path: [...path, keys[i]] });
  }
  return null;
}
