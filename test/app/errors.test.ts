/**
 * The one error registry (lib/core/errors.ts plus the fund's codes, api/lib/errors.ts): every code
 * thrown or answered anywhere in the hook or the app is in it, each has a 4xx/5xx status and a
 * meaning, and docs/errors.md's table documents each with its status. Pure: no datastore.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { FUND_ERRORS, FUND_REGISTRY } from '../../api/lib/errors';
import { ENGINE_ERRORS, ErrorRegistry, HOOK_ERRORS, HTTP_ERRORS, LOG_OUTCOMES, TRANSACT_ERROR_CODES, TransactError } from '../../lib/core/errors';
import { newLog, replayedError, storedError } from '../../lib/core/log-document';

// dist/test/app → the repository
const ROOT = join(__dirname, '..', '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * The codes a source gives to an error: `new TransactError('x'`, `fundError('x'`,
 * `sendError(res, 'x'`, `errorBody('x'`, `isTransactError(err, 'x')`, and `code: 'x'` in literals.
 */
const CODE_SITES = [
  /new TransactError(?:<[^>]*>)?\(\s*'([a-z_]+)'/g,
  /\bfundError\(\s*'([a-z_]+)'/g,
  /\bsendError\(\s*\w+,\s*'([a-z_]+)'/g,
  /\berrorBody\(\s*'([a-z_]+)'/g,
  /\bisTransactError\(\s*[\w.]+,\s*'([a-z_]+)'\)/g,
  /\bcode: '([a-z_]+)'/g,
];

function codesIn(files: readonly string[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of CODE_SITES) {
      for (const match of text.matchAll(pattern)) {
        const where = found.get(match[1]) ?? [];
        where.push(file.slice(ROOT.length + 1));
        found.set(match[1], where);
      }
    }
  }
  return found;
}

describe('the error registry', function () {
  it('gives every code a 4xx/5xx status and a meaning, and refuses a code defined twice', function () {
    for (const [code, spec] of FUND_REGISTRY.entries()) {
      expect(spec.status, code).to.be.within(400, 599);
      expect(spec.meaning, code).to.match(/\w{3}/);
    }
    expect(FUND_REGISTRY.entries().length).to.equal(Object.keys(ENGINE_ERRORS).length + Object.keys(HTTP_ERRORS).length + Object.keys(FUND_ERRORS).length);
    expect(TRANSACT_ERROR_CODES).to.deep.equal(Object.keys(ENGINE_ERRORS));
    expect(() => HOOK_ERRORS.with({ not_found: { status: 404, meaning: 'again' } })).to.throw(/defined already/);
    expect(() => new ErrorRegistry({ bad: { status: 200, meaning: 'ok' } })).to.throw(/4xx\/5xx/);
    expect(() => new ErrorRegistry({ 'Bad-Code': { status: 400, meaning: 'x' } })).to.throw(/snake_case/);
  });

  it('holds every code the hook and the app throw or answer', function () {
    const files = [...sources(join(ROOT, 'lib')), ...sources(join(ROOT, 'api'))];
    const found = codesIn(files);
    // The scan itself must see the codes (a pattern that stopped matching would pass vacuously).
    expect(found.size, 'distinct codes found in lib/ and api/').to.be.at.least(35);
    for (const must of ['bound_violation', 'insufficient_funds', 'rate_limited', 'owner_died', 'no_route']) expect([...found.keys()]).to.include(must);
    const unknown = [...found].filter(([code]) => !FUND_REGISTRY.has(code) && !Object.prototype.hasOwnProperty.call(LOG_OUTCOMES, code));
    expect(unknown.map(([code, where]) => `${code} (${[...new Set(where)].join(', ')})`), 'codes outside the registry').to.deep.equal([]);
  });

  it('is documented in docs/errors.md: each code with its status, each log outcome', function () {
    const readme = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
    const missing: string[] = [];
    for (const [code, spec] of FUND_REGISTRY.entries()) {
      if (!new RegExp(`^\\| \`${code}\` \\| ${spec.status} \\|`, 'm').test(readme)) missing.push(`${code} ${spec.status}`);
    }
    for (const code of Object.keys(LOG_OUTCOMES)) if (!new RegExp(`^\\| \`${code}\` \\|`, 'm').test(readme)) missing.push(code);
    expect(missing, 'docs/errors.md rows `| `code` | status | meaning |` missing').to.deep.equal([]);
  });

  it('keeps an error\'s details in the log and gives them back on a replay; log outcomes replay as aborted', function () {
    const details = { model: 'investor', id: 'i1', field: 'cash', value: 5, by: -10, min: 0 };
    const stored = storedError(new TransactError('bound_violation', 'investor i1: cash would become -5', { path: 'ops.0', details }), 'aborted');
    expect(stored).to.deep.equal({ code: 'bound_violation', message: 'investor i1: cash would become -5', path: 'ops.0', details });
    const log = newLog({ id: 't1', state: 'rolled-back', mode: 'batch', onCrash: 'rollback', owner: 'o', leaseUntil: 0, startedAt: 0, error: JSON.parse(JSON.stringify(stored)) as typeof stored });
    const replay = replayedError(log);
    expect(replay.code).to.equal('bound_violation');
    expect(replay.path).to.equal('ops.0');
    expect(replay.details).to.deep.equal({ ...details, transaction: 't1', replayed: true });
    // The app's own codes survive too (the fund's registry knows them).
    const own = replayedError({ ...log, error: storedError(new TransactError<string>('insufficient_funds', 'no cash', { details: { need: 5 } }), 'aborted') });
    expect([own.code, own.details]).to.deep.equal(['insufficient_funds', { need: 5, transaction: 't1', replayed: true }]);
    const died = replayedError({ ...log, error: { code: 'rolled_back_by_operator', message: 'rolled back' } });
    expect([died.code, died.details?.outcome]).to.deep.equal(['aborted', 'rolled_back_by_operator']);
    expect(storedError(new Error('boom'), 'aborted')).to.deep.equal({ code: 'aborted', message: 'boom' });
  });
});
