/**
 * The ops page's pure parts, without a database or a server: stored values rendered bounded and
 * without recursion (issue 19, item 6), and the session-bound CSRF token and the origin check
 * (item 3).
 */
import { expect } from 'chai';
import { csrfTokenOf, foreignRequest, validCsrf } from '../../../lib/ops/csrf';
import type { OpsRequest } from '../../../lib/ops/http';
import { compactJson, INDENTED_LEVELS, jsonView } from '../../../lib/ops/json-view';
import { historyPage, type PageContext, RENDER_LIMITS, transactionPage } from '../../../lib/ops/templates';
import { newLog } from '../../../lib/core/log-document';
import type { Image } from '../../../lib/core/types';

/** `{a: {a: … leaf …}}`, built without recursion. */
function nested(depth: number, leaf: unknown = 'bottom'): Record<string, unknown> {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value as Record<string, unknown>;
}

const ctx: PageContext = { base: '/ops', title: 'Ops', back: null, actor: 'alice', csrf: 'x'.repeat(43) };

/** A page's size bound: the values' budget, a step's markup for each step shown, and the frame. */
const PAGE_BOUND = RENDER_LIMITS.PAGE_VALUE_CHARS + RENDER_LIMITS.MAX_STEPS_SHOWN * 1_500 + 20_000;

describe('ops page: stored values, bounded', function () {
  it('writes what JSON.stringify(value, null, 2) writes for ordinary values (toJSON, undefined, NaN, nesting)', function () {
    const values: unknown[] = [
      { a: 1, b: 'two', c: [1, { d: null }], e: true, f: undefined, g: new Date(0), h: Number.NaN, i: [undefined, () => 1], j: {}, k: [] },
      'plain "quoted" <text>',
      42,
      null,
      [],
      nested(INDENTED_LEVELS - 1),
    ];
    for (const value of values) {
      expect(jsonView(value, Infinity), JSON.stringify(value)).to.deep.equal({ text: JSON.stringify(value, null, 2), bytes: Buffer.byteLength(JSON.stringify(value)), complete: true });
      expect(compactJson(value)).to.equal(JSON.stringify(value));
    }
    expect(jsonView(undefined, 10)).to.deep.equal({ text: '', bytes: 0, complete: true });
  });

  it('cuts at maxChars and still counts the whole value; indents only the first levels', function () {
    const value = { long: 'é'.repeat(100_000), deep: nested(1_500) };
    const view = jsonView(value, 2_000);
    expect(view.text.length).to.equal(2_000);
    expect(view.complete).to.equal(false);
    expect(view.bytes).to.equal(Buffer.byteLength(JSON.stringify(value)));
    // 1,500 levels indented two spaces a level would be 2.25 million spaces; past INDENTED_LEVELS it is compact.
    const deep = jsonView(nested(1_500), Infinity);
    expect(deep.complete).to.equal(true);
    expect(deep.text.length).to.be.below(JSON.stringify(nested(1_500)).length + INDENTED_LEVELS * (INDENTED_LEVELS + 4) * 2);
    // (chai's deep equality recurses: compare the texts)
    expect(JSON.stringify(JSON.parse(deep.text))).to.equal(JSON.stringify(nested(1_500)));
  });

  it('renders a value nested 200,000 deep without recursion (JSON.stringify overflows the stack on it)', function () {
    const value = nested(200_000);
    expect(() => JSON.stringify(value)).to.throw(RangeError);
    const view = jsonView(value, 1_000);
    expect(view.text.length).to.equal(1_000);
    expect(view.bytes).to.equal(200_000 * '{"a":}'.length + '"bottom"'.length);
    expect(compactJson(value).length).to.equal(view.bytes);
    const circular: Record<string, unknown> = { name: 'loop' };
    circular.self = circular;
    expect(compactJson(circular)).to.equal('{"name":"loop","self":"[circular]"}');
  });

  it(`keeps a transaction page under ${Math.round(PAGE_BOUND / 1024)} KB whatever its steps hold: deep, long, many steps (the rest marked with its size and a raw link)`, function () {
    // A few steps with huge values, the rest ordinary ones: what a log document can hold.
    const huge: Image = { id: 'a', notes: { deep: nested(200_000), long: 'z'.repeat(3_000_000) } };
    const ordinary = (i: number): Image => ({ id: `a${i}`, owner: `owner ${i}`, notes: { text: 'n'.repeat(5_000) }, balance: i });
    const steps = Array.from({ length: 1_000 }, (_, i) => ({ seq: i, kind: 'update' as const, model: 'account', id: `a${i}`, before: i < 3 ? huge : ordinary(i), after: i < 3 ? { ...huge, balance: i } : ordinary(i + 1) }));
    const log = newLog({ id: 'tx1', state: 'committed', mode: 'batch', onCrash: 'rollback', owner: 'o', leaseUntil: 0, startedAt: 0, steps, error: { code: 'aborted', message: 'm'.repeat(1_000_000) } });
    const page = transactionPage(ctx, log, [], 0, new Set(['account'])).markup;
    expect(page.length, `${page.length} characters`).to.be.below(PAGE_BOUND);
    expect(page).to.contain('truncated: 2,000 characters shown of ').and.to.contain('href="/ops/transactions/tx1/steps/0/after"');
    expect(page).to.contain(`${1_000 - RENDER_LIMITS.MAX_STEPS_SHOWN} more step(s) not shown`);
    expect(page).to.contain('more attribute(s) not shown');
    expect(page).to.contain('(truncated, 1,000,009 bytes)'); // "aborted: " and the message
    // a model whose history the viewer may not read: no images at all
    const hidden = transactionPage(ctx, log, [], 0, new Set()).markup;
    expect(hidden).to.contain('not readable for you').and.not.contain('zzzz').and.not.contain('nnnn');
  });

  it('keeps a history page bounded: the latest versions only, each value cut', function () {
    const huge: Image = { id: 'a', notes: nested(200_000) };
    const versions = Array.from({ length: 5_000 }, (_, i) => {
      const image: Image = { id: 'a', balance: i, notes: 'v'.repeat(3_000) };
      return { transaction: `t${i}`, committedAt: i, label: null, kinds: ['update' as const], before: image, after: i === 4_999 ? huge : image, reverses: null, reversedBy: null };
    });
    const page = historyPage(ctx, { model: 'account', id: 'a', versions, current: huge, at: 1, atInput: '', stateAt: huge }).markup;
    expect(page.length, `${page.length} characters`).to.be.below(PAGE_BOUND);
    expect(page).to.contain(`${5_000 - RENDER_LIMITS.MAX_VERSIONS_SHOWN} earlier version(s) not shown`);
  });
});

describe('ops page: CSRF bound to the session, and the origin check', function () {
  const secret = 's'.repeat(32);
  const request = (headers: Record<string, string>): OpsRequest => ({ headers: { host: '127.0.0.1:1337', ...headers }, socket: {} }) as unknown as OpsRequest;

  it('gives each session (and mount path) its own token; none without a session; a made-up token never passes', function () {
    const token = csrfTokenOf(secret, '/ops', 'session-a') as string;
    expect(token).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(csrfTokenOf(secret, '/ops', 'session-a')).to.equal(token);
    expect(csrfTokenOf(secret, '/ops', 'session-b')).to.not.equal(token);
    expect(csrfTokenOf(secret, '/other', 'session-a')).to.not.equal(token);
    expect(csrfTokenOf('t'.repeat(32), '/ops', 'session-a')).to.not.equal(token);
    for (const none of [null, undefined, '']) expect(csrfTokenOf(secret, '/ops', none)).to.equal(null);
    expect(validCsrf(token, new Map([['_csrf', token]]))).to.equal(true);
    expect(validCsrf(token, new Map([['_csrf', 'x'.repeat(43)]]))).to.equal(false);
    expect(validCsrf(token, new Map())).to.equal(false);
    expect(validCsrf(null, new Map([['_csrf', 'x'.repeat(43)]]))).to.equal(false);
  });

  it('refuses Sec-Fetch-Site cross-site / same-site and an Origin that is not the page\'s own (port included, null included)', function () {
    expect(foreignRequest(request({}), null), 'neither header: the token decides').to.equal(null);
    expect(foreignRequest(request({ 'sec-fetch-site': 'same-origin', origin: 'http://127.0.0.1:1337' }), null)).to.equal(null);
    expect(foreignRequest(request({ 'sec-fetch-site': 'none' }), null)).to.equal(null);
    for (const headers of [{ 'sec-fetch-site': 'cross-site' } as Record<string, string>, { 'sec-fetch-site': 'same-site' }, { origin: 'http://evil.example' }, { origin: 'http://127.0.0.1:1338' }, { origin: 'https://127.0.0.1:1337' }, { origin: 'null' }]) {
      expect(foreignRequest(request(headers), null), JSON.stringify(headers)).to.be.a('string');
    }
    // behind a proxy that rewrites Host: the configured origins
    expect(foreignRequest(request({ origin: 'https://ops.example.com' }), ['https://ops.example.com'])).to.equal(null);
    expect(foreignRequest(request({ origin: 'http://127.0.0.1:1337' }), ['https://ops.example.com'])).to.be.a('string');
  });
});
