/**
 * The ops page's templates: plain typed functions from data to escaped HTML (see html.ts). No
 * script: actions are forms; a required reason is the confirmation.
 */
import type { Version } from '../engine/history';
import type { Image, LockDocument, LogDocument, Step, TxState } from '../core/types';
import { CSRF_FIELD } from './csrf';
import { html, type HtmlValue, joinHtml, type SafeHtml } from './html';
import { compactJson, jsonView } from './json-view';
import type { BulkSettleItem, SettleAction, SettlePreview, StateCounts, StuckTransaction, TransactionPage, TransactionSummary } from './queries';

export const STATES: readonly TxState[] = ['pending', 'committed', 'rolling-back', 'rolled-back'];

/** Where the pages live and who is looking: what every page needs. */
export interface PageContext {
  /** The mount path, e.g. `/ops` (no trailing slash). */
  base: string;
  title: string;
  /** The app's link back, if it gave one. */
  back: { href: string; label: string } | null;
  /** Who would act, or null: the page then shows no action forms. */
  actor: string | null;
  /** The session's token every form carries; null without a session (then no form is shown: a POST would be refused). */
  csrf: string | null;
}

/** Whether the page shows action forms: someone who may act, in a session a token is bound to. */
function mayAct(ctx: PageContext): ctx is PageContext & { actor: string; csrf: string } {
  return ctx.actor !== null && ctx.csrf !== null;
}

/**
 * What one page renders of stored values (images, error texts), whatever is stored: a value at
 * most MAX_VALUE_CHARS of JSON text, all of a page's values at most PAGE_VALUE_CHARS (a row's
 * markup counted with its values), at most MAX_STEPS_SHOWN steps of a transaction and the latest
 * MAX_VERSIONS_SHOWN versions of a document. What is left out says so, with its size.
 */
export const RENDER_LIMITS = { MAX_VALUE_CHARS: 2_000, PAGE_VALUE_CHARS: 200_000, MAX_STEPS_SHOWN: 200, MAX_VERSIONS_SHOWN: 100, MAX_TEXT_CHARS: 2_000 } as const;

/** The characters of stored values a page may still render. */
export class RenderBudget {
  constructor(public remaining: number = RENDER_LIMITS.PAGE_VALUE_CHARS) {}

  get spent(): boolean {
    return this.remaining <= 0;
  }

  charge(chars: number): void {
    this.remaining -= chars;
  }
}

/**
 * A stored value as a <pre>, cut to what the budget allows, with a marker (and the raw link, if
 * any) when cut. Once the page's budget is spent a value is not even measured: the marker alone.
 */
function valueBlock(value: unknown, budget: RenderBudget, raw?: string, id?: string): SafeHtml {
  const idAttribute = id === undefined ? '' : html` id="${id}"`;
  const rawLink = raw === undefined ? '' : html` · <a class="raw" href="${raw}">the whole value (JSON)</a>`;
  if (budget.spent) return html`<pre${idAttribute}></pre><p class="truncated">not shown: this page renders at most ${RENDER_LIMITS.PAGE_VALUE_CHARS.toLocaleString('en-US')} characters of stored values${rawLink}</p>`;
  const view = jsonView(value, Math.min(RENDER_LIMITS.MAX_VALUE_CHARS, budget.remaining));
  const block = view.complete
    ? html`<pre${idAttribute}>${view.text}</pre>`
    : html`<pre${idAttribute}>${view.text}…</pre><p class="truncated">truncated: ${view.text.length.toLocaleString('en-US')} characters shown of ${view.bytes.toLocaleString('en-US')} bytes${rawLink}</p>`;
  budget.charge(block.markup.length);
  return block;
}

/** Stored text (an error message), cut at MAX_TEXT_CHARS with a marker. */
function clip(text: string): string {
  return text.length <= RENDER_LIMITS.MAX_TEXT_CHARS ? text : `${text.slice(0, RENDER_LIMITS.MAX_TEXT_CHARS)}… (truncated, ${Buffer.byteLength(text).toLocaleString('en-US')} bytes)`;
}

/** Links inside the ops page, built in one place so that every path segment is encoded. */
export const links = {
  list: (base: string, params?: URLSearchParams) => `${base}${params !== undefined && [...params].length > 0 ? `?${params.toString()}` : ''}`,
  transaction: (base: string, id: string) => `${base}/transactions/${encodeURIComponent(id)}`,
  reverse: (base: string, id: string) => `${base}/transactions/${encodeURIComponent(id)}/reverse`,
  settle: (base: string, id: string) => `${base}/transactions/${encodeURIComponent(id)}/settle`,
  stuck: (base: string) => `${base}/stuck`,
  preview: (base: string) => `${base}/stuck/preview`,
  bulkSettle: (base: string) => `${base}/stuck/settle`,
  raw: (base: string, id: string, seq: number, side: 'before' | 'after') => `${base}/transactions/${encodeURIComponent(id)}/steps/${seq}/${side}`,
  history: (base: string, model: string, id: string, at?: number) => `${base}/history/${encodeURIComponent(model)}/${encodeURIComponent(id)}${at === undefined ? '' : `?at=${encodeURIComponent(new Date(at).toISOString())}`}`,
  css: (base: string) => `${base}/ops.css`,
};

export function when(at: number | null | undefined): string {
  return at === null || at === undefined ? '—' : new Date(at).toISOString().replace('T', ' ').replace('Z', ' UTC');
}

function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  if (s < 172_800) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86_400)} d`;
}

/**
 * What a badge stands for: the four states, and the two conditions an operator acts on. One
 * class per kind, so a state looks the same in the strip, the lists and a transaction's page; the
 * badge carries its word, never colour alone.
 */
export type BadgeKind = TxState | 'stuck' | 'attention';

export function badge(kind: BadgeKind, text: HtmlValue = kind === 'attention' ? 'needs attention' : kind): SafeHtml {
  return html`<span class="badge state-${kind}">${text}</span>`;
}

function stateCell(state: TxState): SafeHtml {
  return badge(state);
}

/** A settle's dry-run answer as a badge: what it would do, in the colour of the state it leads to. */
function actionBadge(action: SettleAction): SafeHtml {
  const kind = action === 'roll back' ? 'rolled-back' : action === 'roll forward' ? 'committed' : 'none';
  return html`<span class="badge action action-${kind}">${action}</span>`;
}

/** Auto-refresh periods a page offers (seconds): a fixed set, so the URL cannot ask for a reload loop. */
export const REFRESH_PERIODS = [10, 30, 60] as const;
export type RefreshPeriod = (typeof REFRESH_PERIODS)[number];

/**
 * The auto-refresh toggle, without a script: links to the same page with `?refresh=<s>` (a
 * `<meta http-equiv="refresh">` then reloads it, which the page's CSP allows) or without it.
 * `linkTo(period)` is the page's own URL with that period (null: off).
 */
export function refreshToggle(current: RefreshPeriod | null, linkTo: (period: RefreshPeriod | null) => string): SafeHtml {
  const option = (period: RefreshPeriod | null): SafeHtml => {
    const label = period === null ? 'off' : `${period} s`;
    return period === current ? html`<b class="current">${label}</b>` : html`<a href="${linkTo(period)}" data-refresh="${period ?? 'off'}">${label}</a>`;
  };
  return html`<p class="refresh" id="refresh">Auto-refresh: ${joinHtml([option(null), ...REFRESH_PERIODS.map(option)], ' · ')}</p>`;
}

/** Options of the page frame beyond its body. */
export interface LayoutOptions {
  notice?: string;
  /** Reload the page every so many seconds (`<meta http-equiv="refresh">`). */
  refresh?: RefreshPeriod | null;
}

export function layout(ctx: Pick<PageContext, 'base' | 'title' | 'back' | 'actor'>, heading: string, body: SafeHtml, options: LayoutOptions = {}): SafeHtml {
  const { notice, refresh } = options;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">${refresh === null || refresh === undefined ? '' : html`<meta http-equiv="refresh" content="${refresh}">`}<title>${heading} · ${ctx.title}</title>
<link rel="stylesheet" href="${links.css(ctx.base)}"></head>
<body><header>${ctx.back === null ? '' : html`<a id="back" href="${ctx.back.href}">← ${ctx.back.label}</a>`}<strong>${ctx.title}</strong><a href="${links.list(ctx.base)}">Transactions</a><a href="${links.stuck(ctx.base)}">Stuck and needs attention</a>
<span class="actor">${ctx.actor === null ? 'read only' : html`acting as <b id="actor">${ctx.actor}</b>`}</span></header>
<main>${notice === undefined ? '' : html`<div class="notice" id="notice">${notice}</div>`}
<h1>${heading}</h1>
${body}</main></body></html>`;
}

/** The error page; `code` is the registry's (machine-readable in `data-code`). */
export function errorPage(ctx: Pick<PageContext, 'base' | 'title' | 'back' | 'actor'>, status: number, code: string, message: string): SafeHtml {
  return layout(ctx, `Error ${status}`, html`<p class="error" id="error" data-code="${code}">${code}: ${message}</p><p><a href="${links.list(ctx.base)}">Back to the transactions</a></p>`);
}

function csrfField(ctx: PageContext & { csrf: string }): SafeHtml {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${ctx.csrf}">`;
}

// ------------------------------------------------------------------------------------------------
// The transaction list

/** The filters as the form shows them back (the raw text the user typed). */
export interface ListFilters {
  /** A transaction id: that transaction alone. */
  id: string;
  state: string;
  model: string;
  /** A document, `model:id`: the transactions that touched it. */
  document: string;
  label: string;
  key: string;
  from: string;
  to: string;
}

export interface ListView {
  filters: ListFilters;
  result: TransactionPage;
  counts: StateCounts;
  pageNo: number;
  pages: number | null;
  /** The newer and the older page (by key), or null where there is none. */
  prev: string | null;
  next: string | null;
  /** The list with the same filters and a state, or a start time, chosen by a count of the strip. */
  filtered: (filter: { state?: TxState; from?: number }) => string;
  refresh: RefreshPeriod | null;
  refreshLink: (period: RefreshPeriod | null) => string;
  ms: number;
}

function summaryRow(base: string, log: TransactionSummary): SafeHtml {
  const linksCell: HtmlValue[] = [];
  if (log.reverses !== null) linksCell.push(html`reverses <a href="${links.transaction(base, log.reverses)}">${log.reverses}</a> `);
  if (log.reversedBy !== null) linksCell.push(html`reversed by <a href="${links.transaction(base, log.reversedBy)}">${log.reversedBy}</a>`);
  return html`<tr data-id="${log.id}"><td><a href="${links.transaction(base, log.id)}">${log.id}</a></td><td>${stateCell(log.state)}</td><td>${log.mode}</td><td>${log.label ?? '—'}</td><td>${when(log.startedAt)}</td><td>${when(log.endedAt)}</td><td class="num">${log.documents.length}</td><td>${linksCell}</td></tr>`;
}

const HOUR_MS = 3_600_000;

/**
 * The strip of counts at the top of the list: each one a link to what it counts. In flight and
 * stuck are counted whole; committed and rolled back by when they started (last hour, last day).
 */
export function countsStrip(base: string, counts: StateCounts, filtered: ListView['filtered']): SafeHtml {
  const item = (kind: BadgeKind, id: string, label: string, count: HtmlValue, href: string): SafeHtml =>
    html`<li><a href="${href}" id="${id}">${badge(kind, label)} <b class="count">${count}</b></a></li>`;
  const recent = (state: 'committed' | 'rolled-back', key: 'committed' | 'rolledBack'): SafeHtml[] => [
    item(state, `count-${state}-hour`, `${state}, last hour`, counts[key].hour, filtered({ state, from: counts.at - HOUR_MS })),
    item(state, `count-${state}-day`, `${state}, last day`, counts[key].day, filtered({ state, from: counts.at - 24 * HOUR_MS })),
  ];
  return html`<ul class="counts" id="counts">
${item('pending', 'count-pending', 'pending', counts.pending, filtered({ state: 'pending' }))}
${item('rolling-back', 'count-rolling-back', 'rolling back', counts.rollingBack, filtered({ state: 'rolling-back' }))}
${item('stuck', 'count-stuck', 'stuck', counts.stuck, links.stuck(base))}
${item('attention', 'count-attention', 'needs attention', `${counts.attention.count}${counts.attention.capped ? '+' : ''}`, links.stuck(base))}
${recent('committed', 'committed')}${recent('rolled-back', 'rolledBack')}</ul>`;
}

export function listPage(ctx: PageContext, view: ListView): SafeHtml {
  const { filters, result } = view;
  const option = (state: string): SafeHtml => html`<option value="${state}"${filters.state === state ? html` selected` : ''}>${state === '' ? 'any' : state}</option>`;
  const summary = `${result.total === undefined ? '' : `${result.total} transaction(s); `}page ${view.pageNo}${view.pages === null ? '' : ` of ${view.pages}`}${result.scanned === undefined ? '' : `; ${result.scanned} scanned for the model filter`} (${view.ms} ms)`;
  const body = html`${countsStrip(ctx.base, view.counts, view.filtered)}
${refreshToggle(view.refresh, view.refreshLink)}
<form method="get" action="${links.list(ctx.base)}" class="filters" id="filters">
<label>transaction id <input name="id" size="24" value="${filters.id}"></label>
<label>document <input name="document" size="20" placeholder="model:id" value="${filters.document}"></label>
<label>state <select name="state">${['', ...STATES].map(option)}</select></label>
<label>model <input name="model" size="10" value="${filters.model}"></label>
<label title="a part of the label, any case, taken literally (% and _ too); at least 3 characters">label contains (any case) <input name="label" size="14" placeholder="3+ characters" minlength="3" value="${filters.label}"></label>
<label>idempotency key <input name="key" size="14" value="${filters.key}"></label>
<label>started from <input name="from" type="datetime-local" step="1" value="${filters.from}"></label>
<label>to <input name="to" type="datetime-local" step="1" value="${filters.to}"></label> (UTC)
${view.refresh === null ? '' : html`<input type="hidden" name="refresh" value="${view.refresh}">`}<button id="filter">Filter</button></form>
<p id="summary">${summary}</p>
<table id="transactions"><tr><th>id</th><th>state</th><th>mode</th><th>label</th><th>started</th><th>ended</th><th>documents</th><th>links</th></tr>
${result.items.map((log) => summaryRow(ctx.base, log))}</table>
<p class="pager">${view.prev !== null ? html`<a id="prev" href="${view.prev}">← newer</a>` : ''}${view.next !== null ? html`<a id="next" href="${view.next}">older →</a>` : ''}</p>`;
  return layout(ctx, 'Transactions', body, { refresh: view.refresh });
}

// ------------------------------------------------------------------------------------------------
// One transaction

/** The attributes of one step, before and after, within the page's budget. */
function diffRows(base: string, log: LogDocument, step: Step, budget: RenderBudget): SafeHtml[] {
  const { before, after } = step;
  const keys = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])].sort();
  const rows: SafeHtml[] = [];
  for (const [i, key] of keys.entries()) {
    if (budget.spent) {
      rows.push(html`<tr class="not-shown"><td colspan="3">${keys.length - i} more attribute(s) not shown: this page renders at most ${RENDER_LIMITS.PAGE_VALUE_CHARS.toLocaleString('en-US')} characters of stored values · the whole images: <a class="raw" href="${links.raw(base, log.id, step.seq, 'before')}">before</a>, <a class="raw" href="${links.raw(base, log.id, step.seq, 'after')}">after</a> (JSON)</td></tr>`);
      break;
    }
    const b = before === null ? undefined : before[key];
    const a = after === null ? undefined : after[key];
    const changed = compactJson(b) !== compactJson(a);
    rows.push(
      html`<tr class="${changed ? 'changed' : ''}"><td>${key}</td><td>${before === null ? '' : valueBlock(b, budget, links.raw(base, log.id, step.seq, 'before'))}</td><td>${after === null ? '' : valueBlock(a, budget, links.raw(base, log.id, step.seq, 'after'))}</td></tr>`,
    );
  }
  return rows;
}

function stepBlock(ctx: PageContext, log: LogDocument, step: Step, readable: boolean, budget: RenderBudget): SafeHtml {
  const delta = step.delta === undefined ? '' : ` (${step.delta.field} by ${step.delta.by}${step.delta.min === undefined ? '' : `, min ${step.delta.min}`}${step.delta.max === undefined ? '' : `, max ${step.delta.max}`})`;
  if (!readable) {
    return html`<h3 class="step">#${step.seq} ${step.kind} ${step.model} ${step.id}${delta}</h3>
<p class="hidden-images">Its images are not shown: the history of ${step.model} is not readable for you.</p>`;
  }
  return html`<h3 class="step">#${step.seq} ${step.kind} <a href="${links.history(ctx.base, step.model, step.id)}">${step.model} ${step.id}</a>${delta}</h3>
<div class="step-body"><table class="diff"><tr><th>attribute</th><th>before</th><th>after</th></tr>${diffRows(ctx.base, log, step, budget)}</table>
${jsonImages(ctx.base, log, step, budget)}</div>`;
}

/**
 * Beside the table, each image as the JSON it is stored as (indented, to select and copy whole),
 * cut like every stored value on the page, with the raw download when cut.
 */
function jsonImages(base: string, log: LogDocument, step: Step, budget: RenderBudget): SafeHtml {
  const image = (side: 'before' | 'after'): SafeHtml =>
    html`<div class="json-image"><h4>${side} <a class="raw" href="${links.raw(base, log.id, step.seq, side)}">raw</a></h4>${step[side] === null ? html`<pre class="json" id="json-${step.seq}-${side}">null</pre>` : valueBlock(step[side], budget, links.raw(base, log.id, step.seq, side), `json-${step.seq}-${side}`)}</div>`;
  return html`<details class="json-view" open><summary>JSON</summary>${image('before')}${image('after')}</details>`;
}

/** `readable`: the models whose history (and so whose images) the viewer may read. */
export function transactionPage(ctx: PageContext, log: LogDocument, locks: readonly LockDocument[], now: number, readable: ReadonlySet<string>, notice?: string): SafeHtml {
  const active = log.state === 'pending' || log.state === 'rolling-back';
  const leaseNote = active && log.leaseUntil < now ? ' (expired)' : '';
  const reverseForm =
    mayAct(ctx) && log.state === 'committed' && log.reversedBy === null
      ? html`<h2>Reverse</h2><form method="post" action="${links.reverse(ctx.base, log.id)}" id="reverse-form">${csrfField(ctx)}
<label>reason <input name="reason" required maxlength="400" size="50" placeholder="why (required, kept on the reversal)"></label> <button id="reverse">Reverse with a new, linked transaction</button></form>`
      : '';
  const settleForm =
    mayAct(ctx) && active
      ? html`<h2>Settle</h2><form method="post" action="${links.settle(ctx.base, log.id)}" id="settle-form">${csrfField(ctx)}
<label>reason <input name="reason" required maxlength="400" size="50" placeholder="why (required)"></label> <button id="settle">Settle (roll back through recovery)</button></form>`
      : '';
  const noSession = ctx.actor !== null && ctx.csrf === null ? html`<p class="bad" id="no-session">Actions are off: the app names no session for this request (config.transact.ops.session).</p>` : '';
  const budget = new RenderBudget();
  const shown = log.steps.slice(0, RENDER_LIMITS.MAX_STEPS_SHOWN);
  const moreSteps = log.steps.length - shown.length;
  const body = html`<table id="transaction">
<tr><td>state</td><td id="state">${stateCell(log.state)}</td></tr><tr><td>mode</td><td>${log.mode}</td></tr>
<tr><td>label</td><td id="label">${log.label ?? '—'}</td></tr>
<tr><td>idempotency key</td><td>${log.idempotencyKey ?? '—'}</td></tr>
<tr><td>started / ended</td><td>${when(log.startedAt)} / ${when(log.endedAt)}</td></tr>
<tr><td>owner / lease until</td><td>${log.owner} / ${when(log.leaseUntil)}${leaseNote}</td></tr>
<tr><td>epoch / recoveries</td><td>${log.epoch} / ${log.recoveries}</td></tr>
<tr><td>error</td><td id="tx-error">${log.error === null ? '—' : clip(`${log.error.code}: ${log.error.message}`)}</td></tr>
<tr><td>attention</td><td>${log.attention === null ? '—' : `${clip(`${log.attention.code}: ${log.attention.message}`)} (${when(log.attention.at)})`}</td></tr>
${log.reverses === null ? '' : html`<tr><td>reverses</td><td><a id="reverses" href="${links.transaction(ctx.base, log.reverses)}">${log.reverses}</a> — reason: <span id="reason">${log.reason ?? ''}</span></td></tr>`}
${log.reversedBy === null ? '' : html`<tr><td>reversed by</td><td><a id="reversed-by" href="${links.transaction(ctx.base, log.reversedBy)}">${log.reversedBy}</a></td></tr>`}
</table>
${noSession}${reverseForm}${settleForm}
<h2>Locks held</h2>
${locks.length === 0 ? html`<p id="no-locks">None.</p>` : html`<table id="locks"><tr><th>document</th><th>epoch</th><th>lease until</th></tr>${locks.map((lock) => html`<tr><td>${lock.id}</td><td class="num">${lock.epoch}</td><td>${when(lock.leaseUntil)}</td></tr>`)}</table>`}
<h2>Steps (${log.steps.length})</h2>
${shown.map((step) => stepBlock(ctx, log, step, readable.has(step.model), budget))}
${moreSteps > 0 ? html`<p class="not-shown" id="more-steps">${moreSteps} more step(s) not shown: this page shows the first ${RENDER_LIMITS.MAX_STEPS_SHOWN}; each step's images are at <code>${links.transaction(ctx.base, log.id)}/steps/&lt;seq&gt;/before</code> and <code>…/after</code> (JSON).</p>` : ''}`;
  return layout(ctx, `Transaction ${log.id}`, body, { notice });
}

// ------------------------------------------------------------------------------------------------
// Stuck and needs attention

export interface StuckView {
  items: readonly StuckTransaction[];
  pageNo: number;
  hasNext: boolean;
  notice?: string;
  refresh: RefreshPeriod | null;
  refreshLink: (period: RefreshPeriod | null) => string;
}

/** The stuck row's badges: its state, and why it is listed. */
function stuckBadges(item: StuckTransaction): SafeHtml {
  return html`${stateCell(item.state)} ${item.attention === null ? badge('stuck') : badge('attention')}`;
}

export function stuckPage(ctx: PageContext, view: StuckView): SafeHtml {
  const { items, pageNo, hasNext } = view;
  const acting = mayAct(ctx);
  // The checkboxes belong to the bulk form by its id (`form=`): each row keeps its own settle form, and forms do not nest.
  const row = (item: StuckTransaction): SafeHtml => html`<tr class="stuck" data-id="${item.id}">${acting ? html`<td><input type="checkbox" class="select" name="id" value="${item.id}" form="bulk-form" aria-label="select ${item.id}"></td>` : ''}<td><a href="${links.transaction(ctx.base, item.id)}">${item.id}</a></td><td>${stuckBadges(item)}</td><td>${item.label ?? '—'}</td><td>${age(item.ageMs)}</td><td>${when(item.leaseUntil)}</td><td class="num">${item.recoveries}</td><td>${item.reason}</td>
${!mayAct(ctx) ? '' : html`<td><form class="inline settle" method="post" action="${links.settle(ctx.base, item.id)}">${csrfField(ctx)}<input type="hidden" name="back" value="stuck"><input name="reason" required maxlength="400" placeholder="why (required)"> <button class="settle">Settle (roll back)</button></form></td>`}</tr>`;
  const bulk = acting ? html`<form method="get" action="${links.preview(ctx.base)}" id="bulk-form" class="bulk"><button id="bulk-preview">Preview settling the selected…</button> (a dry run: nothing is written until you confirm, with one reason for all)</form>` : '';
  const body =
    items.length === 0
      ? html`<p id="no-stuck">No transaction is stuck past its lease or waiting for an operator.</p>`
      : html`<p>Transactions whose owner's lease ran out before they finished (recovery settles them at its next pass), and those recovery could not settle (needs attention). Settling rolls one back now, through recovery.</p>
${bulk}<table id="stuck"><tr>${acting ? html`<th>select</th>` : ''}<th>transaction</th><th>state</th><th>label</th><th>age</th><th>lease ended</th><th>recoveries</th><th>why</th>${!acting ? '' : html`<th>action</th>`}</tr>
${items.map(row)}</table>`;
  const pager = html`<p class="pager">${pageNo > 1 ? html`<a id="prev" href="${links.stuck(ctx.base)}?page=${pageNo - 1}">← previous</a>` : ''}${hasNext ? html`<a id="next" href="${links.stuck(ctx.base)}?page=${pageNo + 1}">next →</a>` : ''}</p>`;
  return layout(ctx, 'Stuck and needs attention', joinHtml([refreshToggle(view.refresh, view.refreshLink), body, pager]), { notice: view.notice, refresh: view.refresh });
}

/**
 * The dry run of a bulk settle: what settling each selected transaction would do now, from
 * recovery's own decision, then one form — one reason, one confirmation — for all of them.
 * Only for someone who may act (the action refuses everyone else before reading).
 */
export function previewPage(ctx: PageContext & { actor: string; csrf: string }, previews: readonly SettlePreview[]): SafeHtml {
  const acting = previews.filter((p) => p.action !== 'nothing');
  const row = (p: SettlePreview): SafeHtml =>
    html`<tr class="preview" data-id="${p.id}" data-action="${p.action}"><td>${p.state === null ? p.id : html`<a href="${links.transaction(ctx.base, p.id)}">${p.id}</a>`}</td><td>${p.state === null ? '—' : stateCell(p.state)}</td><td>${p.label ?? '—'}</td><td>${actionBadge(p.action)}</td><td>${p.why}</td></tr>`;
  const confirm =
    acting.length === 0
      ? html`<p id="nothing-to-do">None of these would be changed by settling now: nothing to confirm.</p>`
      : html`<form method="post" action="${links.bulkSettle(ctx.base)}" id="bulk-settle-form">${csrfField(ctx)}<input type="hidden" name="ids" value="${previews.map((p) => p.id).join(',')}">
<label>reason <input name="reason" required maxlength="400" size="50" placeholder="why (required, kept on each log)"></label> <button id="bulk-settle">Settle ${acting.length} transaction(s)</button></form>`;
  const body = html`<p>A dry run: nothing has been written. Each transaction is judged again when you confirm (it may have moved meanwhile): one that would then be left alone is skipped.</p>
<table id="preview"><tr><th>transaction</th><th>state</th><th>label</th><th>settling would</th><th>why</th></tr>${previews.map(row)}</table>
<p id="preview-summary">${acting.filter((p) => p.action === 'roll back').length} to roll back, ${acting.filter((p) => p.action === 'roll forward').length} to roll forward, ${previews.length - acting.length} left alone.</p>
${confirm}<p><a href="${links.stuck(ctx.base)}">Back to the stuck list</a></p>`;
  return layout(ctx, 'Settle the selected: preview', body);
}

/** What a bulk settle did, one row a transaction. */
export function bulkResultPage(ctx: PageContext, items: readonly BulkSettleItem[]): SafeHtml {
  const settled = items.filter((item) => item.outcome === 'settled').length;
  const row = (item: BulkSettleItem): SafeHtml =>
    html`<tr class="result" data-id="${item.id}" data-outcome="${item.outcome}"><td><a href="${links.transaction(ctx.base, item.id)}">${item.id}</a></td><td>${actionBadge(item.action)}</td><td>${item.outcome}</td><td>${item.state === null ? '—' : stateCell(item.state)}</td><td>${clip(item.message)}</td></tr>`;
  const body = html`<table id="bulk-result"><tr><th>transaction</th><th>dry run said</th><th>outcome</th><th>state now</th><th>detail</th></tr>${items.map(row)}</table>
<p><a href="${links.stuck(ctx.base)}">Back to the stuck list</a></p>`;
  return layout(ctx, 'Settle the selected: done', body, { notice: `Settled ${settled} of ${items.length} transaction(s).` });
}

// ------------------------------------------------------------------------------------------------
// A document's history

export interface HistoryView {
  model: string;
  id: string;
  versions: readonly Version[];
  /** The document as stored now (null: it does not exist). */
  current: Image | null;
  /** The time asked for (`?at=`), and the state then. */
  at: number | null;
  atInput: string;
  stateAt: Image | null;
}

export function historyPage(ctx: PageContext, view: HistoryView): SafeHtml {
  const last = view.versions.length > 0 ? view.versions[view.versions.length - 1].after : null;
  const drift = view.versions.length > 0 && compactJson(last) !== compactJson(view.current);
  const budget = new RenderBudget();
  const shown = view.versions.slice(-RENDER_LIMITS.MAX_VERSIONS_SHOWN);
  const earlier = view.versions.length - shown.length;
  const versionRow = (version: Version): SafeHtml => {
    const marks: HtmlValue[] = [];
    if (version.reverses !== null) marks.push(html` (reverses <a href="${links.transaction(ctx.base, version.reverses)}">${version.reverses}</a>)`);
    if (version.reversedBy !== null) marks.push(html` (reversed by <a href="${links.transaction(ctx.base, version.reversedBy)}">${version.reversedBy}</a>)`);
    return html`<tr class="version" data-transaction="${version.transaction}"><td><a class="at" href="${links.history(ctx.base, view.model, view.id, version.committedAt)}">${when(version.committedAt)}</a></td><td><a href="${links.transaction(ctx.base, version.transaction)}">${version.transaction}</a>${marks}</td><td>${version.label ?? '—'}</td><td>${version.kinds.join(', ')}</td><td>${valueBlock(version.after, budget)}</td></tr>`;
  };
  const body = html`${drift ? html`<p class="bad" id="drift">The stored document differs from its last logged version: it was written outside the engine.</p>` : ''}
<h2>State at a time</h2>
<form method="get" action="${links.history(ctx.base, view.model, view.id)}" id="time-travel"><label>at <input name="at" type="datetime-local" step="0.001" value="${view.atInput}"></label> (UTC) <button id="show-at">Show</button></form>
${view.at === null ? html`<p>Pick a time, or a version's commit time below.</p>` : html`<p>As of <span id="at">${when(view.at)}</span>:</p>${view.stateAt === null ? html`<pre id="state-at">did not exist</pre>` : valueBlock(view.stateAt, budget, undefined, 'state-at')}`}
<h2>Stored now</h2>${view.current === null ? html`<pre id="current">does not exist</pre>` : valueBlock(view.current, budget, undefined, 'current')}
<h2>Committed versions (${view.versions.length})</h2>
${earlier > 0 ? html`<p class="not-shown" id="earlier-versions">${earlier} earlier version(s) not shown: this page shows the latest ${RENDER_LIMITS.MAX_VERSIONS_SHOWN}; travel to a time before them with the form above.</p>` : ''}
<table id="versions"><tr><th>committed (state then)</th><th>transaction</th><th>label</th><th>writes</th><th>after</th></tr>${shown.map(versionRow)}</table>`;
  return layout(ctx, `History of ${view.model} ${view.id}`, body);
}
