/**
 * The ops page at a glance (issue 23, item 5), without a database or a server: the strip of
 * counts and its badges, the auto-refresh toggle, each step's images as JSON, the bulk settle's
 * selection, dry run and confirmation, and the dry run's decision — recovery's own
 * (lib/core/state decideRecovery), not a copy of it.
 */
import { expect } from 'chai';
import { cursorText, parseCursor, parseRefresh } from '../../../lib/ops';
import { type ListView, listPage, type PageContext, previewPage, stuckPage, transactionPage } from '../../../lib/ops/templates';
import type { SettlePreview, StateCounts, StuckTransaction, TransactionPage } from '../../../lib/ops/queries';
import { previewOf } from '../../../lib/operator';
import { newLog } from '../../../lib/core/log-document';
import { decideRecovery } from '../../../lib/core/state';
import type { LogDocument } from '../../../lib/core/types';

const acting: PageContext = { base: '/ops', title: 'Ops', back: null, actor: 'alice', csrf: 'c'.repeat(43) };
const readOnly: PageContext = { ...acting, actor: null };
const NOW = Date.UTC(2026, 0, 1, 12);

const counts: StateCounts = { pending: 3, rollingBack: 1, stuck: 2, attention: { count: 1, capped: false }, committed: { hour: 40, day: 900 }, rolledBack: { hour: 4, day: 12 }, at: NOW };
const empty: TransactionPage = { items: [], limit: 50, skip: 0, total: 0 };

function view(overrides: Partial<ListView> = {}): ListView {
  return {
    filters: { id: '', state: '', model: '', document: '', label: '', key: '', from: '', to: '' },
    result: empty,
    counts,
    pageNo: 1,
    pages: 1,
    prev: null,
    next: null,
    filtered: (f) => `/ops?state=${f.state ?? ''}&from=${f.from ?? ''}`,
    refresh: null,
    refreshLink: (period) => (period === null ? '/ops' : `/ops?refresh=${period}`),
    ms: 1,
    ...overrides,
  };
}

function log(fields: Partial<LogDocument> = {}): LogDocument {
  return newLog({ id: 'tx1', state: 'pending', mode: 'batch', onCrash: 'rollback', owner: 'o', leaseUntil: NOW - 60_000, startedAt: NOW - 120_000, ...fields });
}

/** The markup between `<li>` of the strip item with this id. */
function stripItem(markup: string, id: string): string {
  const match = new RegExp(`<a href="[^"]*" id="${id}">(.*?)</a>`).exec(markup);
  expect(match, id).to.not.equal(null);
  return (match as RegExpExecArray)[1];
}

describe('ops page at a glance: the strip of counts and the auto-refresh toggle', function () {
  it('shows every count with a badge of its state (the word, not only a colour), each linked to what it counts', function () {
    const page = listPage(acting, view()).markup;
    const expected: [string, string, string][] = [
      ['count-pending', 'state-pending', '3'],
      ['count-rolling-back', 'state-rolling-back', '1'],
      ['count-stuck', 'state-stuck', '2'],
      ['count-attention', 'state-attention', '1'],
      ['count-committed-hour', 'state-committed', '40'],
      ['count-committed-day', 'state-committed', '900'],
      ['count-rolled-back-hour', 'state-rolled-back', '4'],
      ['count-rolled-back-day', 'state-rolled-back', '12'],
    ];
    for (const [id, badge, count] of expected) {
      const item = stripItem(page, id);
      expect(item, id).to.contain(`class="badge ${badge}"`).and.to.contain(`<b class="count">${count}</b>`);
    }
    expect(page).to.contain(`href="/ops?state=committed&amp;from=${NOW - 3_600_000}" id="count-committed-hour"`);
    expect(page).to.contain('href="/ops/stuck" id="count-stuck"');
    const capped = listPage(acting, view({ counts: { ...counts, attention: { count: 2000, capped: true } } })).markup;
    expect(stripItem(capped, 'count-attention')).to.contain('<b class="count">2000+</b>');
  });

  it('colours a state the same way in the strip and in the rows: one badge class per state', function () {
    const row = { id: 'tx9', state: 'rolling-back' as const, mode: 'batch' as const, label: null, idempotencyKey: null, idempotencyScope: null, startedAt: NOW, endedAt: null, documents: [], reverses: null, reversedBy: null, reason: null, error: null };
    const page = listPage(acting, view({ result: { ...empty, items: [row], total: 1 } })).markup;
    expect(page).to.contain('<tr data-id="tx9"><td><a href="/ops/transactions/tx9">tx9</a></td><td><span class="badge state-rolling-back">rolling-back</span></td>');
    expect(stripItem(page, 'count-rolling-back')).to.contain('<span class="badge state-rolling-back">rolling back</span>');
  });

  it('reloads with a <meta http-equiv="refresh"> only when asked (?refresh=), and links to switch it on and off; no script', function () {
    const off = listPage(acting, view()).markup;
    expect(off).to.not.contain('http-equiv="refresh"');
    expect(off).to.contain('<b class="current">off</b>').and.to.contain('href="/ops?refresh=30" data-refresh="30"');
    const on = listPage(acting, view({ refresh: 30 })).markup;
    expect(on).to.contain('<meta http-equiv="refresh" content="30">');
    expect(on).to.contain('<b class="current">30 s</b>').and.to.contain('href="/ops" data-refresh="off"');
    expect(on).to.contain('<input type="hidden" name="refresh" value="30">'); // the filter form keeps it
    for (const markup of [off, on]) expect(markup).to.not.contain('<script');
    expect(parseRefresh('30')).to.equal(30);
    expect(parseRefresh('')).to.equal(null);
    expect(parseRefresh('off')).to.equal(null);
    expect(parseRefresh('1')).to.equal(undefined); // a reload loop is not one of the choices
  });

  it('pages by key: a cursor round-trips exactly (fractional start times too); a malformed one is refused', function () {
    for (const cursor of [{ startedAt: NOW, id: 'abc' }, { startedAt: 1767268800000.125, id: 'ff00:x.y-z' }]) expect(parseCursor(cursorText(cursor))).to.deep.equal(cursor);
    expect(parseCursor(undefined)).to.equal(undefined);
    for (const bad of ['1~', '~abc', 'x~abc', '1~a<b', '1e5~a']) expect(parseCursor(bad), bad).to.equal(null);
  });
});

describe("ops page at a glance: a step's images as JSON", function () {
  it('shows each image beside the table as indented JSON that parses back to the image (a create has before null)', function () {
    const steps = [
      { seq: 0, kind: 'update' as const, model: 'account', id: 'a1', before: { id: 'a1', balance: 10, tags: ['x'] }, after: { id: 'a1', balance: 20, tags: ['x'] } },
      { seq: 1, kind: 'create' as const, model: 'account', id: 'a2', before: null, after: { id: 'a2', owner: '<b>Bob</b>' } },
    ];
    const page = transactionPage(acting, log({ state: 'committed', steps }), [], NOW, new Set(['account'])).markup;
    const pre = (id: string): string => {
      const match = new RegExp(`<pre id="${id}">([\\s\\S]*?)</pre>`).exec(page) ?? new RegExp(`<pre class="json" id="${id}">([\\s\\S]*?)</pre>`).exec(page);
      expect(match, id).to.not.equal(null);
      return (match as RegExpExecArray)[1].replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    };
    expect(JSON.parse(pre('json-0-before'))).to.deep.equal(steps[0].before);
    expect(JSON.parse(pre('json-0-after'))).to.deep.equal(steps[0].after);
    expect(pre('json-1-before')).to.equal('null');
    expect(JSON.parse(pre('json-1-after'))).to.deep.equal(steps[1].after);
    expect(page).to.contain('<details class="json-view" open><summary>JSON</summary>');
    expect(page).to.not.contain('<b>Bob</b>'); // escaped
    // a model the viewer may not read: no JSON either
    expect(transactionPage(acting, log({ state: 'committed', steps }), [], NOW, new Set()).markup).to.not.contain('json-view');
  });
});

describe('ops page at a glance: bulk settle', function () {
  const stuck = (id: string): StuckTransaction => ({ id, state: 'pending', label: 'l', startedAt: NOW - 60_000, ageMs: 60_000, leaseUntil: NOW - 30_000, recoveries: 0, attention: null, error: null, reason: 'its lease expired before it finished' });

  it('lets someone who may settle select several stuck transactions for a dry run; a read-only viewer sees no selection and no bulk action', function () {
    const items = [stuck('s1'), stuck('s2')];
    const page = stuckPage(acting, { items, pageNo: 1, hasNext: false, refresh: null, refreshLink: () => '/ops/stuck' }).markup;
    expect(page).to.contain('<form method="get" action="/ops/stuck/preview" id="bulk-form"');
    expect(page).to.contain('<input type="checkbox" class="select" name="id" value="s1" form="bulk-form"');
    expect(page).to.contain('<input type="checkbox" class="select" name="id" value="s2" form="bulk-form"');
    expect(page).to.contain('<span class="badge state-stuck">stuck</span>');
    const viewer = stuckPage(readOnly, { items, pageNo: 1, hasNext: false, refresh: null, refreshLink: () => '/ops/stuck' }).markup;
    expect(viewer).to.not.contain('bulk-form').and.not.contain('type="checkbox"').and.not.contain('/settle');
  });

  it("decides each dry run with recovery's own function: the same answer as decideRecovery, for every kind of log", function () {
    const cases: [Partial<LogDocument>, SettlePreview['action']][] = [
      [{}, 'roll back'],
      [{ state: 'rolling-back' }, 'roll back'],
      [{ onCrash: 'rollforward' }, 'roll forward'],
      [{ mode: 'interactive', onCrash: 'rollforward' }, 'roll back'],
      [{ leaseUntil: NOW + 60_000 }, 'nothing'],
      [{ state: 'committed' }, 'nothing'],
      [{ state: 'rolled-back' }, 'nothing'],
    ];
    for (const [fields, action] of cases) {
      const subject = log(fields);
      const preview = previewOf(subject, NOW, 500);
      expect(preview.action, JSON.stringify(fields)).to.equal(action);
      expect(preview.decision).to.equal(decideRecovery(subject, NOW, 500));
    }
  });

  it('shows the dry run, then one form — one reason, the session token, every id — for all; none when nothing would change', function () {
    const previews: SettlePreview[] = [
      previewOf(log({ id: 'p1' }), NOW, 0),
      previewOf(log({ id: 'p2', onCrash: 'rollforward' }), NOW, 0),
      previewOf(log({ id: 'p3', leaseUntil: NOW + 60_000 }), NOW, 0),
      { id: 'p4', state: null, label: null, action: 'nothing', decision: 'missing', why: 'no such transaction' },
    ];
    const page = previewPage(acting as PageContext & { actor: string; csrf: string }, previews).markup;
    expect(page).to.contain('<tr class="preview" data-id="p1" data-action="roll back">');
    expect(page).to.contain('<tr class="preview" data-id="p2" data-action="roll forward">');
    expect(page).to.contain('<tr class="preview" data-id="p3" data-action="nothing">');
    expect(page).to.contain('1 to roll back, 1 to roll forward, 2 left alone.');
    expect(page).to.contain('<form method="post" action="/ops/stuck/settle" id="bulk-settle-form"><input type="hidden" name="_csrf" value="' + 'c'.repeat(43) + '">');
    expect(page).to.contain('<input type="hidden" name="ids" value="p1,p2,p3,p4">');
    expect(page).to.contain('<input name="reason" required');
    expect(page).to.contain('Settle 2 transaction(s)');
    const idle = previewPage(acting as PageContext & { actor: string; csrf: string }, previews.slice(2)).markup;
    expect(idle).to.contain('id="nothing-to-do"').and.not.contain('bulk-settle-form');
  });
});
