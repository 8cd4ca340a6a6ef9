/**
 * The ops page: an operator's view of the transaction log, shipped with the hook and mounted by
 * the app at a path of its choosing (`config.transact.ops = {path, actor}`), like a queue
 * library's web UI. Its routes are Sails actions under `transact/ops/…`, so the app protects them
 * with its own policies (`'transact/ops/*': [...]` in config/policies.js). Who acts comes from the
 * app (`actor(req)`): without one the pages are read-only and every POST is refused.
 *
 * Server-rendered from the hook itself (html.ts, pages.ts, style.ts): no view engine, no assets,
 * no script; a double-submit CSRF token on every POST (csrf.ts); strict security headers.
 */
import type { Engine } from '../engine';
import { type ErrorRegistry, isTransactError } from '../core/errors';
import type { WaterlineModel } from '../core/waterline';
import { isTransactional } from '../http/validation';
import { LOCK_IDENTITY, LOG_IDENTITY } from '../models/hook-models';
import { csrfTokenOf, foreignRequest, processSecret, type SessionOf, validCsrf } from './csrf';
import { compactJson } from './json-view';
import { formOf, OpsHttpError, type OpsRequest, type OpsResponse, paramOf, queryOf, queryValues, redirect, securityHeaders, sendHtml } from './http';
import { bulkResultPage, errorPage, historyPage, links, type ListFilters, listPage, type PageContext, previewPage, REFRESH_PERIODS, type RefreshPeriod, STATES, stuckPage, transactionPage } from './templates';
import { type ListCursor, MAX_BULK_SETTLE, MIN_LABEL_SEARCH, queriesFor, summaryOf, type TransactionPage, type TransactionQuery } from './queries';
import { OPS_CSS } from './style';
import type { TxState } from '../core/types';

export type { OpsRequest, OpsResponse } from './http';

/** `config.transact.ops`, resolved (lib/config.ts validates it). */
export interface OpsConfig {
  /** Where the pages are mounted, e.g. `/ops` or `/admin/ops`. */
  path: string;
  /**
   * Who is acting, from the request (the app's session or auth): a name recorded with every
   * action, or null for someone who may only look. Policies decide who may look at all.
   */
  actor: (req: OpsRequest) => string | null | undefined | Promise<string | null | undefined>;
  /** Shown in the header and the window title. */
  title: string;
  /** A link back into the app (its own admin pages), shown first in the header. */
  back: { href: string; label: string } | null;
  /** Transactions per page of the list. */
  pageSize: number;
  /** With a model filter, at most this many logs are read for one page. */
  maxScan: number;
  /**
   * The signed-in session's identity, which the forms' CSRF token is bound to: best its id (a
   * token then dies with the session). Default: Express' `req.sessionID` (Sails' session hook).
   * Null or '' (no session): no form is shown and every POST is refused.
   */
  session: SessionOf;
  /**
   * The key of the CSRF tokens' HMAC (at least 32 characters). Default: `config.session.secret`;
   * without one, a random key of this process (tokens then hold only until it restarts, and only
   * on it: a form posted to another instance is refused).
   */
  secret: string | null;
  /**
   * The origins the page is reached at (`https://ops.example.com`), when a proxy in front rewrites
   * the Host header; default: the request's own (its scheme and Host). A POST whose `Origin`
   * names another is refused.
   */
  origins: string[] | null;
  /**
   * Whether this request may read a model's history (`/history/:model/:id`, and a transaction's
   * before/after images of that model, which are the same data). Default: `routes.mayReadHistory`
   * when the REST endpoints have one — it then gets the ops page's request — else the models
   * marked `transactional: true`, as the REST endpoints. The hook's own models never.
   */
  mayReadHistory: ((req: OpsRequest, model: string) => boolean | Promise<boolean>) | null;
}

/** The part of a Sails app the ops page uses (a lifted app has them all; the types say optional for apps loaded without HTTP). */
export interface OpsSails {
  registerAction?(action: (req: OpsRequest, res: OpsResponse) => unknown, identity: string, force?: boolean): void;
  on(event: 'router:before', handler: () => void): void;
  router?: { bind(path: string, target: { action: string }, verb?: string): void };
  models: Record<string, WaterlineModel>;
  config: { policies?: Record<string, unknown>; session?: { secret?: unknown } };
  log: { warn(...args: unknown[]): void; error(...args: unknown[]): void };
}

/** Action identities: the app's policies target `transact/ops/*` (or each one). */
export const OPS_ACTIONS = {
  list: 'transact/ops/list',
  transaction: 'transact/ops/transaction',
  reverse: 'transact/ops/reverse',
  stuck: 'transact/ops/stuck',
  settle: 'transact/ops/settle',
  preview: 'transact/ops/preview',
  settleMany: 'transact/ops/settle-many',
  history: 'transact/ops/history',
  raw: 'transact/ops/raw',
  stylesheet: 'transact/ops/stylesheet',
} as const;

/** Ids the log and the app's models use (24-hex, keyed `<id>.<epoch>`, `model:id` parts…). */
const ID = /^[A-Za-z0-9_:.-]{1,200}$/;
const MODEL = /^[a-z][a-z0-9_]{0,60}$/;
/** A document as the log names it: `model:id`. */
const DOCUMENT = /^[a-z][a-z0-9_]{0,60}:[A-Za-z0-9_:.-]{1,200}$/;
/** A keyset cursor in a URL: `<startedAt>~<id>` (startedAt as JS prints it: exact). */
const CURSOR = /^(\d{1,16}(?:\.\d{1,6})?)~([A-Za-z0-9_:.-]{1,200})$/;
const MAX_REASON = 400;
const MAX_PAGE = 100_000;
/** What the pages say after a redirect (`?done=`): a fixed set, so no text from the URL is ever shown. */
const NOTICES: Record<string, string> = {
  reversed: 'Reversed: this is the new transaction that undoes the original.',
  settled: 'Settled: rolled back through recovery.',
};

/** A keyset cursor from the URL (`before=` / `after=`); undefined when absent, null when malformed. */
export function parseCursor(text: string | undefined): ListCursor | undefined | null {
  if (text === undefined || text === '') return undefined;
  const match = CURSOR.exec(text);
  return match === null ? null : { startedAt: Number(match[1]), id: match[2] };
}

export function cursorText(cursor: ListCursor): string {
  return `${cursor.startedAt}~${cursor.id}`;
}

/** The auto-refresh period asked for (`?refresh=`), one of REFRESH_PERIODS; null when off; undefined when not one of them. */
export function parseRefresh(text: string | undefined): RefreshPeriod | null | undefined {
  if (text === undefined || text === '' || text === 'off') return null;
  return REFRESH_PERIODS.find((period) => String(period) === text);
}

/**
 * The list's links, all built from its filters as typed (and the auto-refresh, which every link
 * keeps): the same list with some parameters changed (null: removed), the list a count of the
 * strip opens (a state, a start time), and the list with another refresh period.
 */
function listLinks(base: string, filters: ListFilters, refresh: RefreshPeriod | null) {
  const withRefresh = (params: URLSearchParams): URLSearchParams => {
    if (refresh !== null) params.set('refresh', String(refresh));
    return params;
  };
  const listLink = (changes: Record<string, string | null>): string => {
    const params = withRefresh(new URLSearchParams(Object.entries(filters).filter(([, value]) => value !== '')));
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) params.delete(key);
      else params.set(key, value);
    }
    return links.list(base, params);
  };
  const filtered = (f: { state?: TxState; from?: number }): string => {
    const params = new URLSearchParams();
    if (f.state !== undefined) params.set('state', f.state);
    if (f.from !== undefined) params.set('from', new Date(f.from).toISOString().slice(0, 19));
    return links.list(base, withRefresh(params));
  };
  const refreshLink = (period: RefreshPeriod | null): string => listLink({ refresh: period === null ? null : String(period) });
  return { listLink, filtered, refreshLink };
}

/** Time inputs are UTC: a value without a zone (what datetime-local sends) gets one. */
export function parseTime(text: string): number | null {
  const zoned = /[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`;
  const at = Date.parse(zoned);
  return /^\d{4}-\d\d-\d\d/.test(text) && Number.isFinite(at) ? at : null;
}

/**
 * Registers the ops actions and binds their routes under `config.path` (on `router:before`, so
 * they come before the app's own routes and get the app's policies for their identities).
 */
export function installOps(hook: { engine?: Engine; errors: ErrorRegistry }, sails: OpsSails, config: OpsConfig, routes: { mayReadHistory?: (req: never, model: string) => boolean | Promise<boolean> } | false = false): InstalledOps {
  const base = config.path;
  const { router } = sails;
  if (sails.registerAction === undefined || router === undefined) throw new Error("sails-hook-transact: config.transact.ops needs Sails' router and action registry");
  const sessionSecret = sails.config.session?.secret;
  const secret = config.secret ?? (typeof sessionSecret === 'string' && sessionSecret !== '' ? sessionSecret : null) ?? processSecret();
  if (config.secret === null && secret !== sessionSecret) {
    sails.log.warn(`sails-hook-transact: the ops page at ${base} has no secret (config.transact.ops.secret, or config.session.secret): its forms' tokens hold only on this process until it restarts.`);
  }
  const restRule = routes === false ? undefined : routes.mayReadHistory;
  // The REST endpoints' rule gets the ops page's request: Sails hands both the same request object.
  const readRule: (req: OpsRequest, model: string) => boolean | Promise<boolean> =
    config.mayReadHistory ?? (restRule === undefined ? (_req, model) => isTransactional(sails.models[model]) : (req, model) => restRule(req as never, model));
  /** Whether the request may read the model's history; the hook's own models never have one. */
  const mayRead = async (req: OpsRequest, model: string): Promise<boolean> => model !== LOG_IDENTITY && model !== LOCK_IDENTITY && (await readRule(req, model)) === true;

  /** Runs one page: a refusal (bad input, no actor, bad token, engine refusal) is a 4xx page; nothing is written. */
  const action = (name: string, handler: (req: OpsRequest, res: OpsResponse, engine: Engine, page: PageContext) => Promise<void>) => {
    const run = async (req: OpsRequest, res: OpsResponse): Promise<void> => {
      const frame: Pick<PageContext, 'base' | 'title' | 'back' | 'actor'> = { base, title: config.title, back: config.back, actor: null };
      try {
        const engine = hook.engine;
        if (engine === undefined) throw new OpsHttpError('unavailable', 'the transaction engine is not started yet');
        const actor = (await config.actor(req)) ?? null;
        const page: PageContext = { base, title: config.title, back: config.back, actor: typeof actor === 'string' && actor !== '' ? actor : null, csrf: csrfTokenOf(secret, base, config.session(req)) };
        frame.actor = page.actor;
        await handler(req, res, engine, page);
      } catch (err) {
        if (res.headersSent) return;
        if (err instanceof OpsHttpError) return sendHtml(res, err.status, errorPage(frame, err.status, err.code, err.message));
        if (isTransactError(err)) {
          // The registry's status (as the REST endpoints answer it); a code it does not know is a refusal.
          const status = hook.errors.statusOf(err.code) ?? 409;
          return sendHtml(res, status, errorPage(frame, status, err.code, err.message));
        }
        sails.log.error(`sails-hook-transact: the ops page (${name}) failed`, err);
        sendHtml(res, 500, errorPage(frame, 500, 'internal', 'the page failed; the server log has the details'));
      }
    };
    return (req: OpsRequest, res: OpsResponse): void => {
      void run(req, res);
    };
  };

  /** A POST: refused (403) without an actor or a matching CSRF token, before anything is read or written. */
  const post = async (req: OpsRequest, page: PageContext): Promise<{ actor: string; form: Map<string, string> }> => {
    // Where the browser says it comes from first: a cross-site POST is refused before its body is read.
    const foreign = foreignRequest(req, config.origins);
    if (foreign !== null) throw new OpsHttpError('csrf_failed', foreign);
    if (page.actor === null) throw new OpsHttpError('forbidden', 'you may look at these pages but not act on them');
    if (page.csrf === null) throw new OpsHttpError('csrf_failed', 'the app names no session for this request (config.transact.ops.session), so no form token can be checked');
    const form = await formOf(req);
    if (!validCsrf(page.csrf, form)) throw new OpsHttpError('csrf_failed', "missing or wrong CSRF token (it is bound to this session): reload the page and try again");
    return { actor: page.actor, form };
  };

  const reasonOf = (form: Map<string, string>): string => {
    const reason = (form.get('reason') ?? '').trim();
    if (reason === '') throw new OpsHttpError('validation_failed', 'a reason is required');
    if (reason.length > MAX_REASON) throw new OpsHttpError('validation_failed', `the reason is too long (${MAX_REASON} characters at most)`);
    return reason;
  };

  const idParam = (req: OpsRequest, name: string, what: string): string => {
    const id = paramOf(req, name);
    if (!ID.test(id)) throw new OpsHttpError('validation_failed', `not a valid ${what}`);
    return id;
  };

  const noticeOf = (req: OpsRequest): string | undefined => NOTICES[queryOf(req).get('done') ?? ''];

  const pageNumber = (text: string | undefined): number => {
    if (text === undefined || text === '') return 1;
    if (!/^\d{1,6}$/.test(text) || Number(text) < 1 || Number(text) > MAX_PAGE) throw new OpsHttpError('validation_failed', 'page must be a whole number from 1');
    return Number(text);
  };

  const queries = (engine: Engine) => queriesFor(engine);

  const refreshOf = (q: Map<string, string>): RefreshPeriod | null => {
    const refresh = parseRefresh(q.get('refresh'));
    if (refresh === undefined) throw new OpsHttpError('validation_failed', `refresh is off or one of ${REFRESH_PERIODS.join(', ')} (seconds)`);
    return refresh;
  };

  /** The list's filters from the query string, checked: a bad one is a 400 before anything is read. */
  const filtersOf = (q: Map<string, string>): { filters: ListFilters; query: Omit<TransactionQuery, 'limit' | 'skip'> } => {
    const text = (name: string): string => (q.get(name) ?? '').trim();
    const filters: ListFilters = { id: text('id'), state: q.get('state') ?? '', model: text('model'), document: text('document'), label: text('label'), key: text('key'), from: q.get('from') ?? '', to: q.get('to') ?? '' };
    if (filters.id !== '' && !ID.test(filters.id)) throw new OpsHttpError('validation_failed', 'not a valid transaction id');
    if (filters.state !== '' && !(STATES as readonly string[]).includes(filters.state)) throw new OpsHttpError('validation_failed', `state must be one of ${STATES.join(', ')}`);
    if (filters.model !== '' && !MODEL.test(filters.model)) throw new OpsHttpError('validation_failed', 'model must be a model identity (lowercase)');
    if (filters.document !== '' && !DOCUMENT.test(filters.document)) throw new OpsHttpError('validation_failed', 'document must be model:id (the model in lowercase)');
    if (filters.label.length > 200 || filters.key.length > 200) throw new OpsHttpError('validation_failed', 'label and key are at most 200 characters');
    if (filters.label !== '' && [...filters.label].length < MIN_LABEL_SEARCH) throw new OpsHttpError('validation_failed', `label contains: at least ${MIN_LABEL_SEARCH} characters (a shorter text cannot use the label index)`);
    const from = filters.from === '' ? undefined : parseTime(filters.from);
    const to = filters.to === '' ? undefined : parseTime(filters.to);
    if (from === null || to === null) throw new OpsHttpError('validation_failed', 'from and to must be dates and times (UTC)');
    const query: Omit<TransactionQuery, 'limit' | 'skip'> = {};
    if (filters.state !== '') query.state = filters.state as TxState;
    if (filters.model !== '') query.model = filters.model;
    if (filters.document !== '') query.document = filters.document;
    if (filters.label !== '') query.label = filters.label;
    if (filters.key !== '') query.idempotencyKey = filters.key;
    if (from !== undefined) query.from = from;
    if (to !== undefined) query.to = to;
    return { filters, query };
  };

  /** A search by transaction id: that log alone, one read by its key (the other filters do not apply). */
  const byId = async (engine: Engine, id: string, limit: number): Promise<TransactionPage> => {
    const log = await engine.getLog(id);
    const items = log === null ? [] : [summaryOf(log)];
    return { items, limit, skip: 0, total: items.length };
  };

  const list = action('list', async (req, res, engine, page) => {
    const q = queryOf(req);
    const { filters, query: filter } = filtersOf(q);
    const refresh = refreshOf(q);
    const before = parseCursor(q.get('before'));
    const after = parseCursor(q.get('after'));
    if (before === null || after === null || (before !== undefined && after !== undefined)) throw new OpsHttpError('validation_failed', 'before / after is one <startedAt>~<id> cursor');
    const pageNo = pageNumber(q.get('page'));
    const cursor = before ?? after;
    // A page by key starts at its cursor (an index seek at any depth); a bare page number still works, by offset.
    const query: TransactionQuery = { ...filter, limit: config.pageSize, skip: cursor === undefined ? (pageNo - 1) * config.pageSize : 0, ...(before === undefined ? {} : { before }), ...(after === undefined ? {} : { after }) };
    const started = Date.now();
    // The count reaches at most 100 pages ahead: bounded however long the log (it is never deleted).
    const [result, counts] = await Promise.all([
      filters.id !== '' ? byId(engine, filters.id, config.pageSize) : queries(engine).list(query, { count: true, countCap: 100 * config.pageSize, maxScan: config.maxScan }),
      queries(engine).counts(),
    ]);
    const pages = result.total === undefined ? null : Math.max(1, Math.ceil(result.total / config.pageSize));
    const { listLink, filtered, refreshLink } = listLinks(base, filters, refresh);
    const first = result.items[0];
    const last = result.items[result.items.length - 1];
    const hasNext = pages === null ? result.items.length === config.pageSize : pageNo < pages;
    // Newer: the page before this one's first row (the first page needs no cursor); older: after its last row.
    const prev = pageNo <= 1 || first === undefined ? null : pageNo === 2 ? listLink({ page: null }) : listLink({ page: String(pageNo - 1), after: cursorText(first) });
    const next = !hasNext || last === undefined ? null : listLink({ page: String(pageNo + 1), before: cursorText(last) });
    sendHtml(res, 200, listPage(page, { filters, result, counts, pageNo, pages, prev, next, filtered, refresh, refreshLink, ms: Date.now() - started }));
  });

  const transaction = action('transaction', async (req, res, engine, page) => {
    const id = idParam(req, 'id', 'transaction id');
    const log = await engine.getLog(id);
    if (log === null) throw new OpsHttpError('not_found', `no transaction ${id}`);
    const active = log.state === 'pending' || log.state === 'rolling-back';
    const locks = active && log.documents.length > 0 ? (await engine.store.findLocks(log.documents.slice(0, 1000))).filter((lock) => lock.owner === log.id) : [];
    const readable = new Set<string>();
    for (const model of new Set(log.steps.map((step) => step.model))) if (await mayRead(req, model)) readable.add(model);
    sendHtml(res, 200, transactionPage(page, log, locks, engine.clock.now(), readable, noticeOf(req)));
  });

  /** One step's whole image as JSON (what the transaction page cuts), under the same read rule as the history. */
  const raw = action('raw', async (req, res, engine) => {
    const id = idParam(req, 'id', 'transaction id');
    const seqText = paramOf(req, 'seq');
    const side = paramOf(req, 'side');
    if (!/^\d{1,7}$/.test(seqText) || (side !== 'before' && side !== 'after')) throw new OpsHttpError('validation_failed', 'the image is /steps/<seq>/before or /steps/<seq>/after');
    const log = await engine.getLog(id);
    if (log === null) throw new OpsHttpError('not_found', `no transaction ${id}`);
    const step = log.steps.find((s) => s.seq === Number(seqText));
    if (step === undefined) throw new OpsHttpError('not_found', `transaction ${id} has no step ${seqText}`);
    if (!(await mayRead(req, step.model))) throw new OpsHttpError('forbidden', `the history of ${step.model} is not readable for you`);
    securityHeaders(res);
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="${encodeURIComponent(`${id}-${step.seq}-${side}`)}.json"`);
    res.end(compactJson(step[side]) || 'null');
  });

  const reverse = action('reverse', async (req, res, engine, page) => {
    const { actor, form } = await post(req, page);
    const id = idParam(req, 'id', 'transaction id');
    const reason = reasonOf(form);
    // Who acted is kept with the reason, on the reversal's own log.
    const result = await engine.reverse(id, { reason: `${reason} (by ${actor} on the ops page)`.slice(0, 500) });
    redirect(res, `${links.transaction(base, result.id)}?done=reversed`);
  });

  const stuck = action('stuck', async (req, res, engine, page) => {
    const q = queryOf(req);
    const pageNo = pageNumber(q.get('page'));
    const refresh = refreshOf(q);
    const result = await queries(engine).stuck({ limit: config.pageSize + 1, skip: (pageNo - 1) * config.pageSize });
    const refreshLink = (period: RefreshPeriod | null): string => `${links.stuck(base)}${period === null ? '' : `?refresh=${period}`}`;
    sendHtml(res, 200, stuckPage(page, { items: result.items.slice(0, config.pageSize), pageNo, hasNext: result.items.length > config.pageSize, notice: noticeOf(req), refresh, refreshLink }));
  });

  /** The transactions a bulk settle names: 1 to MAX_BULK_SETTLE valid ids, each once; anything else is a 400 before anything is read. */
  const bulkIds = (ids: readonly string[]): string[] => {
    if (ids.length === 0) throw new OpsHttpError('validation_failed', 'select at least one transaction');
    if (ids.length > MAX_BULK_SETTLE) throw new OpsHttpError('validation_failed', `at most ${MAX_BULK_SETTLE} transactions at once`);
    if (ids.some((id) => !ID.test(id))) throw new OpsHttpError('validation_failed', 'not a valid transaction id');
    if (new Set(ids).size !== ids.length) throw new OpsHttpError('validation_failed', 'a transaction is named twice');
    return [...ids];
  };

  /** Who may settle, before anything is read: the same rule as a POST's actor (Monitor / ReadOnly roles have none). */
  const mayActOrRefuse = (page: PageContext): PageContext & { actor: string; csrf: string } => {
    if (page.actor === null) throw new OpsHttpError('forbidden', 'you may look at these pages but not act on them');
    if (page.csrf === null) throw new OpsHttpError('csrf_failed', 'the app names no session for this request (config.transact.ops.session), so no form token can be checked');
    return page as PageContext & { actor: string; csrf: string };
  };

  /** The dry run (GET, writes nothing): what settling each selected transaction would do. */
  const preview = action('preview', async (req, res, engine, page) => {
    const acting = mayActOrRefuse(page);
    const ids = bulkIds(queryValues(req, 'id'));
    sendHtml(res, 200, previewPage(acting, await queries(engine).preview(ids)));
  });

  /** The confirmed bulk settle: one reason for all, each transaction judged again and settled by the single settle's path. */
  const settleMany = action('settleMany', async (req, res, engine, page) => {
    const { actor, form } = await post(req, page);
    const ids = bulkIds((form.get('ids') ?? '').split(',').filter((id) => id !== ''));
    const reason = reasonOf(form);
    sendHtml(res, 200, bulkResultPage(page, await queries(engine).settleMany(ids, { by: actor, reason })));
  });

  const settle = action('settle', async (req, res, engine, page) => {
    const { actor, form } = await post(req, page);
    const id = idParam(req, 'id', 'transaction id');
    const reason = reasonOf(form);
    await queries(engine).settle(id, { by: actor, reason });
    redirect(res, form.get('back') === 'stuck' ? `${links.stuck(base)}?done=settled` : `${links.transaction(base, id)}?done=settled`);
  });

  const history = action('history', async (req, res, engine, page) => {
    const model = paramOf(req, 'model');
    const info = MODEL.test(model) ? engine.infoOf(model) : undefined;
    if (info === undefined) throw new OpsHttpError('unknown_model', 'no such model');
    // The REST endpoints' rule (or the one the app gave the ops page): whole documents, as they were.
    if (!(await mayRead(req, model))) throw new OpsHttpError('forbidden', `the history of ${model} is not readable for you`);
    const id = idParam(req, 'id', 'document id');
    const atInput = queryOf(req).get('at') ?? '';
    const at = atInput === '' ? null : parseTime(atInput);
    if (at === null && atInput !== '') throw new OpsHttpError('validation_failed', 'at must be a date and time (UTC)');
    const [versions, current, then] = await Promise.all([
      engine.history(model, id),
      sails.models[model].findOne({ [info.primaryKey]: id }),
      at === null ? Promise.resolve(null) : engine.stateAt(model, id, at),
    ]);
    // The form shows the time back in the input's own format (no zone).
    const shown = at === null ? '' : new Date(at).toISOString().slice(0, 23);
    sendHtml(res, 200, historyPage(page, { model, id, versions, current: current ?? null, at, atInput: shown, stateAt: then }));
  });

  const stylesheet = (_req: OpsRequest, res: OpsResponse): void => {
    securityHeaders(res);
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/css; charset=utf-8');
    res.setHeader('Cache-Control', 'private, max-age=300');
    res.end(OPS_CSS);
  };

  const actions: [string, (req: OpsRequest, res: OpsResponse) => void][] = [
    [OPS_ACTIONS.list, list],
    [OPS_ACTIONS.transaction, transaction],
    [OPS_ACTIONS.reverse, reverse],
    [OPS_ACTIONS.stuck, stuck],
    [OPS_ACTIONS.settle, settle],
    [OPS_ACTIONS.preview, preview],
    [OPS_ACTIONS.settleMany, settleMany],
    [OPS_ACTIONS.history, history],
    [OPS_ACTIONS.raw, raw],
    [OPS_ACTIONS.stylesheet, stylesheet],
  ];
  const registerActions = (): void => {
    for (const [identity, fn] of actions) sails.registerAction?.(fn, identity, true);
  };
  registerActions();

  sails.on('router:before', () => {
    router.bind(`GET ${base}`, { action: OPS_ACTIONS.list });
    router.bind(`GET ${base}/ops.css`, { action: OPS_ACTIONS.stylesheet });
    router.bind(`GET ${base}/stuck`, { action: OPS_ACTIONS.stuck });
    router.bind(`GET ${base}/stuck/preview`, { action: OPS_ACTIONS.preview });
    router.bind(`POST ${base}/stuck/settle`, { action: OPS_ACTIONS.settleMany });
    router.bind(`GET ${base}/transactions/:id`, { action: OPS_ACTIONS.transaction });
    router.bind(`POST ${base}/transactions/:id/reverse`, { action: OPS_ACTIONS.reverse });
    router.bind(`POST ${base}/transactions/:id/settle`, { action: OPS_ACTIONS.settle });
    router.bind(`GET ${base}/transactions/:id/steps/:seq/:side`, { action: OPS_ACTIONS.raw });
    router.bind(`GET ${base}/history/:model/:id`, { action: OPS_ACTIONS.history });
  });

  if (!hasOpsPolicy(sails.config.policies)) {
    sails.log.warn(`sails-hook-transact: the ops page is mounted at ${base} with no policy for transact/ops/*: anyone who can reach the app can read the transaction log. Add one in config/policies.js.`);
  }
  return { registerActions };
}

export interface InstalledOps {
  /** Registers the actions again: Sails forgets every action on `sails.reloadActions()`. */
  registerActions(): void;
}

/** Whether config/policies.js says anything about the ops actions (a '*' of `true` does not count). */
function hasOpsPolicy(policies: Record<string, unknown> | undefined): boolean {
  if (policies === undefined) return false;
  return Object.entries(policies).some(([key, value]) => {
    const targets = key.split(',').map((t) => t.trim());
    const matches = targets.some((t) => t === 'transact/ops/*' || t === 'transact/*' || t.startsWith('transact/ops/') || (t === '*' && value !== true));
    return matches && value !== true;
  });
}

