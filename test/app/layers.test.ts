/**
 * lib/ by layer: the one place the layer order is written (LAYERS), checked against every import
 * of the hook, type imports included (a type import is no cycle at run time, but it is a
 * dependency a reader has to follow). Each folder's README.md says what it may import; this test
 * keeps that line true. Pure: reads the sources.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { expect } from 'chai';
import { circlesOf, resolveImport } from '../support/import-graph';

const ROOT = join(__dirname, '..', '..', '..');
const LIB = join(ROOT, 'lib');

/**
 * Lowest first. A file may import its own folder and any folder of a lower layer; folders of one
 * layer are independent of each other. '.' is lib/'s top level: the public face.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['core'],
  ['models'],
  ['query'],
  ['store'],
  ['reads'],
  ['protocol'],
  ['engine'],
  ['operator', 'drill', 'waterline-api'],
  ['http'],
  ['ops'],
  ['.'],
];

const rank = new Map(LAYERS.flatMap((folders, i) => folders.map((folder) => [folder, i] as const)));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every relative module a file names: import/export … from, `import type`, import(), require(). */
const SPECIFIER = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*)'(\.[^']*)'/g;

function importsOf(file: string): string[] {
  const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(SPECIFIER)].map((m) => {
    const target = resolveImport(file, m[1]);
    if (target === null) throw new Error(`${relative(ROOT, file)}: '${m[1]}' names no file`);
    return target;
  });
}

/** A file's folder under lib/ (its first path segment), '.' for the top level. */
function folderOf(file: string): string {
  const parts = relative(LIB, file).split(sep);
  return parts.length === 1 ? '.' : parts[0];
}

describe('lib/ by layer', function () {
  const files = sources(LIB);
  const graph = new Map(files.map((file) => [file, importsOf(file)]));

  it('places every folder of lib/ in the layer order', function () {
    const folders = readdirSync(LIB).filter((name) => statSync(join(LIB, name)).isDirectory());
    expect(folders.length).to.be.at.least(10);
    expect(folders.filter((folder) => !rank.has(folder))).to.deep.equal([]);
    expect([...rank.keys()].filter((folder) => folder !== '.' && !folders.includes(folder))).to.deep.equal([]);
  });

  it('has every import run down: to its own folder or a lower layer, never up nor sideways', function () {
    const against: string[] = [];
    for (const [file, targets] of graph) {
      const from = folderOf(file);
      for (const target of targets) {
        const to = folderOf(target);
        if (to !== from && !((rank.get(to) as number) < (rank.get(from) as number))) against.push(`${relative(ROOT, file)} → ${relative(ROOT, target)}`);
      }
    }
    expect(files.length).to.be.at.least(100);
    expect(against).to.deep.equal([]);
  });

  it("keeps each adapter's module behind the store: nothing outside lib/store/ imports store/disk/, store/mongo/ or store/postgres/", function () {
    const adapters = ['disk', 'mongo', 'postgres'].map((name) => join(LIB, 'store', name) + sep);
    const past: string[] = [];
    for (const [file, targets] of graph) {
      if (file.startsWith(join(LIB, 'store') + sep)) continue;
      for (const target of targets) if (adapters.some((dir) => target.startsWith(dir))) past.push(`${relative(ROOT, file)} → ${relative(ROOT, target)}`);
    }
    expect(past).to.deep.equal([]);
  });

  it('has no circle of imports, type imports included', function () {
    const circles = circlesOf(graph, ROOT);
    expect(circles).to.deep.equal([]);
  });

  it("says in each folder's README.md what it may import, as the order has it", function () {
    const wrong: string[] = [];
    for (const [folder, layer] of rank) {
      if (folder === '.') continue;
      const readme = join(LIB, folder, 'README.md');
      const lower = LAYERS.slice(0, layer).flat().map((name) => `${name}/`);
      const expected = `May import: ${lower.length === 0 ? 'nothing of lib/' : lower.join(', ')}.`;
      const line = existsSync(readme) ? readFileSync(readme, 'utf8').split('\n').find((l) => l.startsWith('May import:')) : undefined;
      if (line !== expected) wrong.push(`lib/${folder}/README.md: ${line ?? '(missing)'} — expected "${expected}"`);
    }
    expect(wrong).to.deep.equal([]);
  });

});
