/**
 * The app is written against the hook's public API only, reads no global, holds its logic in
 * TypeScript (Sails' controllers, policies and hooks are one-line re-exports of compiled modules),
 * and neither the hook nor the app has a circular import. Pure: reads the sources.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect } from 'chai';
import { circlesOf, resolveImport } from '../support/import-graph';

// dist/test/app → the repository
const ROOT = join(__dirname, '..', '..', '..');

function files(dir: string, ext: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path, ext);
    return name.endsWith(ext) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s(?!type\s)[^'";]*?from\s+'([^']+)'|require\('([^']+)'\)/g;

/** What a file imports at run time (`import type` is erased: it makes no cycle). */
function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => m[1] ?? m[2]);
}

/** The run-time import graph of `roots` (relative imports only). */
function graphOf(roots: readonly string[]): Map<string, string[]> {
  return new Map(roots.map((file) => [file, importsOf(file).map((spec) => resolveImport(file, spec)).filter((f): f is string => f !== null)]));
}

describe('the app and the hook, as code', function () {
  const appTs = files(join(ROOT, 'api'), '.ts');

  it("has the app import the hook only by its package name (its public API), never the hook's files", function () {
    expect(appTs.length).to.be.at.least(20);
    const reaching: string[] = [];
    for (const file of appTs) {
      for (const spec of importsOf(file)) {
        const target = resolveImport(file, spec);
        if (target !== null && !target.startsWith(join(ROOT, 'api') + '/')) reaching.push(`${relative(ROOT, file)} → ${spec}`);
        if (spec.includes('dist/') || spec.startsWith('sails-hook-transact/')) reaching.push(`${relative(ROOT, file)} → ${spec}`);
      }
    }
    expect(reaching).to.deep.equal([]);
    // Nor the engine behind the hook: the app uses `app.transact` and the hook's reads(), stats(), health(), stuck(), scheduler.
    const engineUsers = appTs.filter((file) => /\.engine\b/.test(readFileSync(file, 'utf8').replace(/^\s*(\*|\/\/).*$/gm, '')));
    expect(engineUsers.map((f) => relative(ROOT, f))).to.deep.equal([]);
    expect(appTs.filter((file) => importsOf(file).includes('sails-hook-transact')).length).to.be.at.least(10);
  });

  it('reads no `sails` global: the app handle is passed (req._sails, the job context, the hook argument)', function () {
    const sources = [...appTs, ...files(join(ROOT, 'api'), '.js'), ...files(join(ROOT, 'config'), '.js')];
    const global = /(?<![\w.$'"`/])sails\./;
    const offending = sources.filter((file) => readFileSync(file, 'utf8').split('\n').some((line) => !/^\s*(\*|\/\/|\/\*)/.test(line) && global.test(line)));
    expect(offending.map((f) => relative(ROOT, f))).to.deep.equal([]);
    expect(readFileSync(join(ROOT, 'config', 'globals.js'), 'utf8')).to.match(/sails: false/);
  });

  it("keeps Sails' controllers, policies and hooks as one-line re-exports of compiled TypeScript", function () {
    const shims = [...files(join(ROOT, 'api', 'controllers'), '.js'), ...files(join(ROOT, 'api', 'policies'), '.js'), ...files(join(ROOT, 'api', 'hooks'), '.js')];
    expect(shims.length).to.be.at.least(25);
    const shape = /^\/\*\*[\s\S]*?\*\/\nmodule\.exports = (?:\(sails\) => )?require\('(?:(?:\.\.\/)+dist\/[\w/-]+|sails-hook-transact)'\)(?:\.\w+)?(?:\(sails\))?;\n$/;
    expect(shims.filter((file) => !shape.test(readFileSync(file, 'utf8'))).map((f) => relative(ROOT, f))).to.deep.equal([]);
  });

  it('has no circular import, in the hook or in the app', function () {
    const all = [...files(join(ROOT, 'lib'), '.ts'), ...appTs];
    expect(all.length).to.be.at.least(80);
    expect(circlesOf(graphOf(all), ROOT)).to.deep.equal([]);
  });
});
