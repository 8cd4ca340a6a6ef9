/**
 * Every ops page over real HTTP, on an engine the bench already loaded: the hook's own ops
 * actions (lib/ops installOps), registered on a tiny router of this file instead of Sails' (the
 * bench loads the app without HTTP), each timed as a browser would fetch it — the page rendered
 * and sent, status checked. No app policy, no session store: the pages' own work only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveConfig } from '../lib/config';
import type { Engine } from '../lib/engine';
import { HOOK_ERRORS } from '../lib/core/errors';
import { installOps, type OpsConfig, type OpsRequest, type OpsSails } from '../lib/ops';
import type { WaterlineModel } from '../lib/core/waterline';

type Action = (req: OpsRequest, res: ServerResponse) => unknown;

interface Route {
  verb: string;
  pattern: RegExp;
  keys: string[];
  action: string;
}

/** `GET /ops/transactions/:id` as a regular expression over the path, and its parameter names. */
function routeOf(spec: string, action: string): Route {
  const [verb, path] = spec.split(' ');
  const keys: string[] = [];
  const source = path.replace(/[.]/g, '\\.').replace(/:(\w+)/g, (_, key: string) => {
    keys.push(key);
    return '([^/]+)';
  });
  return { verb, pattern: new RegExp(`^${source}$`), keys, action };
}

export interface OpsServer {
  base: string;
  close(): Promise<void>;
}

/** Serves the ops page at `${base}/ops` for `engine`, as the operator `bench` (who may act). */
export async function serveOps(engine: Engine, models: Record<string, WaterlineModel>): Promise<OpsServer> {
  const actions = new Map<string, Action>();
  const routes: Route[] = [];
  const beforeRouter: (() => void)[] = [];
  const sails: OpsSails = {
    registerAction: (action, identity) => void actions.set(identity, action),
    on: (_event, handler) => void beforeRouter.push(handler),
    router: { bind: (spec, target) => void routes.push(routeOf(spec, target.action)) },
    models,
    config: { policies: { 'transact/ops/*': ['bench'] } },
    log: { warn: (...args) => console.warn(...args), error: (...args) => console.error(...args) },
  };
  const ops = resolveConfig({ ops: { path: '/ops', actor: () => 'bench', session: () => 'bench-session', secret: 'b'.repeat(32) } }).ops as OpsConfig;
  installOps({ engine, errors: HOOK_ERRORS }, sails, ops);
  for (const handler of beforeRouter) handler();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://bench.invalid').pathname;
    for (const route of routes) {
      const match = req.method === route.verb ? route.pattern.exec(path) : null;
      if (match === null) continue;
      (req as OpsRequest).params = Object.fromEntries(route.keys.map((key, i) => [key, decodeURIComponent(match[i + 1])]));
      void (actions.get(route.action) as Action)(req as OpsRequest, res);
      return;
    }
    res.statusCode = 404;
    res.end('no route');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, close: () => new Promise<void>((ok) => server.close(() => ok())) };
}

/** What the pages are asked for: fixtures of the bench's synthetic log. */
export interface OpsFixtures {
  /** A committed transaction with steps. */
  transaction: string;
  /** A transaction in the middle of the log (a deep page by key starts after it). */
  middle: { id: string; startedAt: number };
  /** A document some logs touched (`model:id`), and its model and id. */
  document: { model: string; id: string };
  /** In-flight transactions (the dry run of a bulk settle reads each). */
  active: string[];
  now: number;
}

/** Every page of the ops page, by name and path (GETs: a bulk settle's POST writes; its dry run is the page timed). */
export function opsPages(f: OpsFixtures): [string, string][] {
  const day = new Date(f.now - 86_400_000).toISOString().slice(0, 19);
  const key = `${f.document.model}:${f.document.id}`;
  return [
    ['ops: overview (first page, counts, count up to 100 pages)', '/ops'],
    ['ops: overview, auto-refresh on', '/ops?refresh=30'],
    ['ops: a page deep in the log, by key (before=)', `/ops?page=2&before=${f.middle.startedAt}~${f.middle.id}`],
    ['ops: a page deep in the log, newer by key (after=)', `/ops?page=2&after=${f.middle.startedAt}~${f.middle.id}`],
    ['ops: state=committed, last day', `/ops?state=committed&from=${day}`],
    ['ops: state=rolled-back', '/ops?state=rolled-back'],
    ['ops: label contains (common)', '/ops?label=payment'],
    ['ops: label contains, another case (common)', '/ops?label=PAYMENT%20Succ'],
    // A label no log has: on PostgreSQL the trigram index answers (ILIKE '%…%'); without it the
    // newest-first scan runs to the end of the log. Two characters make no trigram (a scan).
    ['ops: label contains (a label no log has)', '/ops?label=no-such-label'],
    ['ops: label contains (2 characters no log has)', '/ops?label=zq'],
    ['ops: search by transaction id', `/ops?id=${f.transaction}`],
    ['ops: search by document', `/ops?document=${encodeURIComponent(key)}`],
    ['ops: model filter (maxScan)', '/ops?model=investor'],
    ['ops: one transaction (steps, JSON view)', `/ops/transactions/${f.transaction}`],
    ['ops: a step image (raw JSON)', `/ops/transactions/${f.transaction}/steps/0/after`],
    ['ops: stuck list', '/ops/stuck'],
    [`ops: bulk settle dry run (${f.active.length} transactions)`, `/ops/stuck/preview?${f.active.map((id) => `id=${id}`).join('&')}`],
    ['ops: document history', `/ops/history/${f.document.model}/${encodeURIComponent(f.document.id)}`],
    ['ops: document history, time travel', `/ops/history/${f.document.model}/${encodeURIComponent(f.document.id)}?at=${day}`],
  ];
}

/** Fetches one page; anything but 200 fails the run (a bench of error pages measures nothing). */
export async function fetchPage(base: string, path: string): Promise<void> {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(120_000) });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${body.slice(0, 300)}`);
}
