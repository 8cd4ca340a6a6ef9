/**
 * Point-in-time rebuild ("recovery drill"): the state of the transactional models as of a time T,
 * reconstructed from the current documents and the transaction log into a scratch datastore.
 *
 * 1. Copy every committed document of each model into the scratch models, page by page.
 * 2. Undo every transaction committed after T, newest first: write each document's before-image
 *    (null: delete it). Images are absolute, so a document ends up with the before-image of the
 *    EARLIEST transaction after T that touched it — its committed state at T — whatever page the
 *    copy read it in, and whatever committed while the copy ran (the log scan starts after the
 *    copy, so it sees every such commit).
 * Rolled-back and unfinished transactions have no committed effect and are skipped. A reversal is
 * a committed transaction like any other: undone when it committed after T. A transaction
 * recovery completed (rolled forward) counts at its `endedAt`, the moment recovery committed it.
 *
 * What it cannot reconstruct: writes made outside the engine (not in the log), a document's state
 * before the log began, and models that are not given. Chain breaks it can see — a document whose
 * current (or next-newer) image differs from what the newest logged transaction left — are
 * reported as written outside the engine. So are documents stamped (createdAt/updatedAt) after T
 * that no logged transaction after T covers: written outside the engine since (the fund's bearer
 * tokens, created at login). Those are reported, not removed: the drill does not guess.
 */
import type { Engine } from '../engine';
import { TransactError } from '../core/errors';
import { documentKey } from '../core/operations';
import type { Image } from '../core/types';
import type { WaterlineModel } from '../core/waterline';
import { byModel, committedPages, DEFAULT_PAGE_SIZE, logPageSize, logPages, replaceDocuments, sameImage } from './document-pages';

export interface DrillOptions {
  /** The time to rebuild (epoch ms or a Date), compared with the log's own `endedAt` timestamps. */
  at: number | Date;
  /** Identities of the models to rebuild (e.g. `transactionalModels(sails.models)`). */
  models: readonly string[];
  /** The scratch datastore's model of each identity: an app loaded on the scratch datastore, empty. */
  target: (identity: string) => WaterlineModel | undefined;
  /** Documents or log entries per page (memory holds about one page). Default 500. */
  pageSize?: number;
  /** Most documents listed per kind of gap (they are all counted). Default 20. */
  sampleSize?: number;
}

/** Something a drill could not reconstruct, or reconstructed only partly. */
export type DrillGap =
  | { kind: 'before-log'; message: string; logBegins: string | null }
  | { kind: 'outside-engine'; message: string; count: number; samples: { model: string; id: string; transaction: string }[] }
  | { kind: 'model-not-rebuilt'; message: string; model: string; steps: number }
  | { kind: 'missing-image'; message: string; count: number; samples: { model: string; id: string; transaction: string }[] }
  | { kind: 'not-in-log'; message: string; count: number; models: Record<string, number>; samples: { model: string; id: string }[] };

export interface DrillReport {
  /** The time rebuilt (ISO). */
  at: string;
  startedAt: string;
  finishedAt: string;
  /** Per model: documents copied (current, committed) and documents in the rebuilt state. */
  models: Record<string, { copied: number; count: number }>;
  undone: {
    /** Transactions committed after `at`, undone. */
    transactions: number;
    steps: number;
    /** Of those, reversals of earlier transactions. */
    reversals: number;
    /** Of those, ones recovery claimed (rolled forward, or reversed under a new owner). */
    recovered: number;
    /** Of those, ones that started at or before `at` and committed after it (not part of the state at `at`). */
    straddling: number;
  };
  /** The earliest start in the log (ISO), or null for an empty log. */
  logBegins: string | null;
  /** What could not be reconstructed (empty: nothing the drill can detect). */
  gaps: DrillGap[];
}

interface Pending {
  model: string;
  id: string;
  /** The before-image of the earliest step seen so far (newest first: the last one wins). */
  before: Image | null;
  /** The after-image of the newest step on it in this page, to check the chain against. */
  after: Image | null;
  transaction: string;
  endedAt: number;
}

/** Rebuilds `options.models` as of `options.at` into `options.target`; see the module comment. */
export async function rebuildAt(engine: Pick<Engine, 'reads' | 'infoOf' | 'findLogs' | 'clock' | 'options'>, options: DrillOptions): Promise<DrillReport> {
  const at = typeof options.at === 'number' ? options.at : options.at.getTime();
  if (!Number.isFinite(at)) throw new Error('sails-hook-transact: drill: `at` is not a valid time');
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const sampleSize = options.sampleSize ?? 20;
  const startedAt = Date.now();
  const models = new Set(options.models);
  const targets = new Map<string, WaterlineModel>();
  for (const identity of models) {
    const target = options.target(identity);
    if (target === undefined) throw new Error(`sails-hook-transact: drill: the scratch datastore has no model "${identity}"`);
    if (engine.infoOf(identity) === undefined) throw new Error(`sails-hook-transact: drill: no model "${identity}" to rebuild`);
    if ((await target.count({})) > 0) throw new TransactError('target_not_empty', `the scratch ${identity} is not empty: a drill writes into an empty datastore only`, { path: identity });
    targets.set(identity, target);
  }
  const report: DrillReport = {
    at: new Date(at).toISOString(),
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: '',
    models: {},
    undone: { transactions: 0, steps: 0, reversals: 0, recovered: 0, straddling: 0 },
    logBegins: null,
    gaps: [],
  };

  // 1. The current committed documents. A log entry that ended before this moment is already in
  // every page the copy reads: only those can be checked against the copy (see applyPage).
  const copyStartedAt = engine.clock.now();
  for (const identity of models) {
    let copied = 0;
    for await (const page of committedPages(engine, identity, pageSize)) {
      await (targets.get(identity) as WaterlineModel).createEach(page.map((doc) => ({ ...doc })));
      copied += page.length;
    }
    report.models[identity] = { copied, count: 0 };
  }

  // 2. Undo what committed after `at`, newest first.
  const outside: { model: string; id: string; transaction: string }[] = [];
  let outsideCount = 0;
  const missing: { model: string; id: string; transaction: string }[] = [];
  let missingCount = 0;
  const notRebuilt = new Map<string, number>();
  // Applied in chunks of about `pageSize` documents, in newest-first order: a later chunk only
  // overwrites with older before-images, so the result is the same, and memory stays one chunk
  // even when a page of the log holds transactions of a thousand steps each.
  let pending = new Map<string, Pending>();
  const flush = async (): Promise<void> => {
    const broken = await applyPage(engine, targets, pending, copyStartedAt);
    outsideCount += broken.length;
    for (const item of broken) if (outside.length < sampleSize) outside.push(item);
    pending = new Map();
  };
  for await (const logs of logPages(engine, { states: ['committed'], since: at, order: 'newest-first', pageSize: logPageSize(pageSize) })) {
    for (const log of logs) {
      report.undone.transactions++;
      if (log.reverses !== null) report.undone.reversals++;
      if (log.recoveries > 0) report.undone.recovered++;
      if (log.startedAt <= at) report.undone.straddling++;
      for (const step of [...log.steps].reverse()) {
        if (!models.has(step.model)) {
          notRebuilt.set(step.model, (notRebuilt.get(step.model) ?? 0) + 1);
          continue;
        }
        // A step always carries both images (null: absent); undefined means a log this version cannot undo.
        if (step.before === undefined || step.after === undefined) {
          missingCount++;
          if (missing.length < sampleSize) missing.push({ model: step.model, id: step.id, transaction: log.id });
          continue;
        }
        report.undone.steps++;
        const key = documentKey(step.model, step.id);
        const seen = pending.get(key);
        if (seen === undefined) pending.set(key, { model: step.model, id: step.id, before: step.before, after: step.after, transaction: log.id, endedAt: log.endedAt as number });
        else seen.before = step.before;
      }
      if (pending.size >= pageSize) await flush();
    }
  }
  await flush();

  for (const identity of models) report.models[identity].count = await (targets.get(identity) as WaterlineModel).count({});
  const [first] = await engine.findLogs({ where: {}, sort: [{ startedAt: 'ASC' }, { id: 'ASC' }], limit: 1 });
  report.logBegins = first === undefined ? null : new Date(first.startedAt).toISOString();
  if (first === undefined || first.startedAt > at) {
    report.gaps.push({
      kind: 'before-log',
      logBegins: report.logBegins,
      message: first === undefined
        ? 'the log is empty: the rebuilt state is the current one'
        : `the log begins at ${report.logBegins}, after ${report.at}: documents written before the log began are as they were when it began, not as of ${report.at}`,
    });
  }
  if (outsideCount > 0) {
    report.gaps.push({ kind: 'outside-engine', count: outsideCount, samples: outside, message: `${outsideCount} document(s) differ from what the newest logged transaction left: written outside the engine since (what was written outside the engine is not in the log, and is rebuilt only where a logged transaction's before-image covers it)` });
  }
  for (const [model, steps] of notRebuilt) {
    report.gaps.push({ kind: 'model-not-rebuilt', model, steps, message: `${steps} step(s) after ${report.at} on model "${model}", which this drill does not rebuild` });
  }
  if (missingCount > 0) report.gaps.push({ kind: 'missing-image', count: missingCount, samples: missing, message: `${missingCount} step(s) carry no before/after image and could not be undone` });
  // Whole milliseconds (the stamps are; `at` may be a fraction): the same documents, and a bigint column takes it.
  const unlogged = await writtenAfter(engine, targets, Math.floor(at + engine.options.clockSkewMs), sampleSize);
  if (unlogged.count > 0) {
    const list = Object.entries(unlogged.models).map(([model, n]) => `${model}: ${n}`).join(', ');
    report.gaps.push({ kind: 'not-in-log', ...unlogged, message: `${unlogged.count} document(s) (${list}) were created or updated after ${report.at} by writes the log does not hold (outside the engine, e.g. a login's token): they are in the rebuilt state as they are now, though they did not exist or differed at ${report.at}` });
  }
  report.finishedAt = new Date().toISOString();
  return report;
}

/**
 * Writes the before-images of one page of undone steps into the scratch models (delete, then
 * insert: the scratch store is the drill's own), and returns the documents whose stored image is
 * not what their newest logged transaction in this page left — checked only where that
 * transaction ended before the copy began (a later one may have committed after its page was read).
 */
async function applyPage(engine: Pick<Engine, 'infoOf'>, targets: Map<string, WaterlineModel>, pending: Map<string, Pending>, copyStartedAt: number): Promise<{ model: string; id: string; transaction: string }[]> {
  const broken: { model: string; id: string; transaction: string }[] = [];
  for (const [identity, entries] of byModel(pending.values())) {
    const target = targets.get(identity) as WaterlineModel;
    const pk = (engine.infoOf(identity) as NonNullable<ReturnType<Engine['infoOf']>>).primaryKey;
    const ids = entries.map((entry) => entry.id);
    const stored = new Map<string, Image>();
    for (const row of await target.find({ where: { [pk]: { in: ids } } })) stored.set(String(row[pk]), row);
    for (const entry of entries) {
      if (entry.endedAt < copyStartedAt && !sameImage(stored.get(entry.id) ?? null, entry.after)) broken.push({ model: identity, id: entry.id, transaction: entry.transaction });
    }
    await replaceDocuments(target, pk, [...stored.keys()], entries.map((entry) => entry.before));
  }
  return broken;
}

/**
 * The rebuilt documents whose auto-timestamps (createdAt, updatedAt) are after `after`: every
 * document a logged transaction touched after `at` holds its before-image, stamped at or before
 * `at`, so one stamped later was written outside the engine since (the fund's bearer tokens,
 * created at login with a plain create). `after` is `at` plus the clock skew the engine allows:
 * a transaction's stamps and its commit time may come from two clocks.
 */
async function writtenAfter(engine: Pick<Engine, 'infoOf'>, targets: Map<string, WaterlineModel>, after: number, sampleSize: number): Promise<{ count: number; models: Record<string, number>; samples: { model: string; id: string }[] }> {
  const found = { count: 0, models: {} as Record<string, number>, samples: [] as { model: string; id: string }[] };
  for (const [identity, target] of targets) {
    const info = engine.infoOf(identity) as NonNullable<ReturnType<Engine['infoOf']>>;
    const later = [info.createdAt, info.updatedAt]
      .filter((name): name is string => name !== null)
      .map((name) => ({ [name]: { '>': info.attributes[name]?.type === 'string' ? new Date(after).toISOString() : after } }));
    if (later.length === 0) continue;
    const where = later.length === 1 ? later[0] : { or: later };
    const count = await target.count(where);
    if (count === 0) continue;
    found.count += count;
    found.models[identity] = count;
    const room = sampleSize - found.samples.length;
    if (room > 0) {
      const rows = await target.find({ where, sort: [{ [info.primaryKey]: 'ASC' }], limit: room });
      for (const row of rows) found.samples.push({ model: identity, id: String(row[info.primaryKey]) });
    }
  }
  return found;
}
