/**
 * Stored values as JSON text for a page, bounded whatever was stored: at most `maxChars` of text
 * (and the size of the whole, so the page can say what it left out), indentation only for the
 * first levels (a value nested 1,500 deep indented two spaces a level is megabytes of spaces),
 * and no recursion at all — an explicit stack — so no depth overflows the call stack.
 * JSON.stringify does all three wrong for the ops page: it recurses, it indents every level, and
 * it must finish the whole text before any of it can be cut.
 */

/** The text shown, the size of the whole value as compact UTF-8 JSON, and whether the text is all of it. */
export interface JsonView {
  text: string;
  bytes: number;
  complete: boolean;
}

/** Levels indented like `JSON.stringify(value, null, 2)`; deeper ones are written compact. */
export const INDENTED_LEVELS = 16;

type Entry = [key: string | null, value: unknown];

interface Frame {
  container: object;
  entries: Entry[];
  next: number;
  depth: number;
  close: string;
}

/** What JSON.stringify would write for a value: toJSON applied, nothing for what it skips. */
function jsonable(value: unknown, key: string): unknown {
  let v = value;
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON(key: string): unknown }).toJSON(key);
  switch (typeof v) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      return v.toString();
    case 'number':
      return Number.isFinite(v) ? v : null;
    default:
      return v;
  }
}

class Output {
  text = '';
  bytes = 0;
  complete = true;

  constructor(private readonly maxChars: number) {}

  /** Part of the JSON itself: counted in the size. */
  token(piece: string): void {
    this.bytes += Buffer.byteLength(piece);
    this.layout(piece);
  }

  /** Indentation: shown, not counted. */
  layout(piece: string): void {
    if (!this.complete) return;
    const room = this.maxChars - this.text.length;
    if (piece.length <= room) {
      this.text += piece;
      return;
    }
    this.text += piece.slice(0, Math.max(0, room));
    this.complete = false;
  }
}

function walk(value: unknown, maxChars: number, indented: number): JsonView {
  const out = new Output(maxChars);
  const root = jsonable(value, '');
  if (root === undefined) return { text: '', bytes: 0, complete: true };
  const stack: Frame[] = [];
  // The containers on the path from the root: a value that contains itself is written once.
  const ancestors = new Set<object>();
  const indent = (depth: number): string => `\n${'  '.repeat(depth)}`;

  const open = (v: unknown, depth: number): void => {
    if (v === null || typeof v !== 'object') {
      out.token(JSON.stringify(v));
      return;
    }
    if (ancestors.has(v)) {
      out.token('"[circular]"');
      return;
    }
    const array = Array.isArray(v);
    const entries: Entry[] = array
      ? (v as unknown[]).map((item, i): Entry => [null, jsonable(item, String(i)) ?? null])
      : Object.keys(v)
          .map((key): Entry => [key, jsonable((v as Record<string, unknown>)[key], key)])
          .filter(([, item]) => item !== undefined);
    out.token(array ? '[' : '{');
    ancestors.add(v);
    stack.push({ container: v, entries, next: 0, depth, close: array ? ']' : '}' });
  };

  open(root, 0);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    const pretty = frame.depth < indented;
    if (frame.next >= frame.entries.length) {
      stack.pop();
      ancestors.delete(frame.container);
      if (pretty && frame.entries.length > 0) out.layout(indent(frame.depth));
      out.token(frame.close);
      continue;
    }
    const [key, item] = frame.entries[frame.next++];
    if (frame.next > 1) out.token(',');
    if (pretty) out.layout(indent(frame.depth + 1));
    if (key !== null) {
      out.token(`${JSON.stringify(key)}:`);
      if (pretty) out.layout(' ');
    }
    open(item, frame.depth + 1);
  }
  return { text: out.text, bytes: out.bytes, complete: out.complete };
}

/** At most `maxChars` of the value's JSON, indented for the first levels, with the size of the whole. */
export function jsonView(value: unknown, maxChars: number): JsonView {
  return walk(value, maxChars, INDENTED_LEVELS);
}

/** The whole value as compact JSON ('' for what JSON has no text for), without recursion: for comparisons and the raw download. */
export function compactJson(value: unknown): string {
  return walk(value, Infinity, 0).text;
}
