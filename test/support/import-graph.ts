/** Import graphs of the sources, for the structure tests (test/app/app-structure, test/app/layers). */
import { statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** A relative import as the TypeScript file it names (`.js` as compiled, a folder: its index.ts); null for a package or no file. */
export function resolveImport(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(from), spec.replace(/\.js$/, ''));
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

/** Every circle of `graph` (file → the files it imports), each as its files from `root`, by a depth-first walk. */
export function circlesOf(graph: ReadonlyMap<string, readonly string[]>, root: string): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const found: string[][] = [];
  const stack: string[] = [];
  const visit = (file: string): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      found.push([...stack.slice(stack.indexOf(file)), file].map((f) => relative(root, f)));
      return;
    }
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) visit(next);
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file);
  return found;
}
