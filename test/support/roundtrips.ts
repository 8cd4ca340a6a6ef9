/**
 * Counting what a transaction sends to its datastore: MongoDB at the driver (command monitoring),
 * PostgreSQL at pg's Client#query, sails-disk at the store contract (DiskStore and DiskRecords: one
 * call is one atomic step of the embedded datastore, what a server would answer in one round trip;
 * the Waterline calls inside a step are in-process). Used by `npm run bench:roundtrips` and by the
 * tests that hold log protocol v3 to its round-trip bounds.
 */
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client as PgClient } from 'pg';
import type { LoadedApp } from './app';
import type { Target } from './targets';

/** Counts what one adapter sends to its server. */
export interface Counter {
  readonly total: number;
  /** Histogram of what was sent, e.g. `insert transactlock`, `UPDATE account`, `records.grant account`. */
  readonly byKind: ReadonlyMap<string, number>;
  /** Summed client-side duration (send to reply) per kind, in ms. */
  readonly msByKind: ReadonlyMap<string, number>;
}

export class Tally implements Counter {
  total = 0;
  byKind = new Map<string, number>();
  msByKind = new Map<string, number>();
  record(kind: string): void {
    this.total++;
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
  }
  time(kind: string, ms: number): void {
    this.msByKind.set(kind, (this.msByKind.get(kind) ?? 0) + ms);
  }
}

export interface Snapshot {
  total: number;
  byKind: Map<string, number>;
  msByKind: Map<string, number>;
}

export function snapshot(counter: Counter): Snapshot {
  return { total: counter.total, byKind: new Map(counter.byKind), msByKind: new Map(counter.msByKind) };
}

export function diffKinds(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): Map<string, number> {
  const diff = new Map<string, number>();
  for (const [kind, n] of after) {
    const d = n - (before.get(kind) ?? 0);
    if (d !== 0) diff.set(kind, d);
  }
  return diff;
}

/** What `work` sent: its round trips and their kinds. */
export async function counted(counter: Counter, work: () => Promise<unknown>): Promise<{ roundTrips: number; kinds: Map<string, number> }> {
  const before = snapshot(counter);
  await work();
  return { roundTrips: counter.total - before.total, kinds: diffKinds(before.byKind, counter.byKind) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

interface MongoClientLike {
  monitorCommands: boolean;
  on(event: 'commandStarted' | 'commandSucceeded' | 'commandFailed', listener: (event: unknown) => void): unknown;
}

function isMongoClient(value: unknown): value is MongoClientLike {
  return isRecord(value) && typeof value.on === 'function' && 'monitorCommands' in value;
}

/** The mongo URL with command monitoring on from the first connection (see mongoCounter). */
export function withMonitoring(target: Target): Target {
  if (target.adapter !== 'mongo') return target;
  const url = new URL(target.location);
  url.searchParams.set('monitorCommands', 'true');
  return { ...target, location: url.toString() };
}

/**
 * Command monitoring on sails-mongo's MongoClient. In driver 6.3 the `monitorCommands` setter
 * exists but only reaches connections opened after it is set (each pool freezes its options at
 * connect), so the option also goes in the URL (withMonitoring), and this checks that events arrive.
 */
export function mongoCounter(app: LoadedApp): Tally {
  const manager: unknown = app.models.account.getDatastore().manager;
  const client = isRecord(manager) ? manager.client : undefined;
  if (!isMongoClient(client)) throw new Error('datastore manager has no MongoClient in .client');
  if (!client.monitorCommands) client.monitorCommands = true;
  const tally = new Tally();
  const kindOf = new Map<unknown, string>(); // requestId -> kind, until the reply
  client.on('commandStarted', (event: unknown) => {
    if (!isRecord(event) || typeof event.commandName !== 'string') return tally.record('?');
    const target = isRecord(event.command) ? event.command[event.commandName] : undefined;
    const kind = typeof target === 'string' ? `${event.commandName} ${target}` : event.commandName;
    kindOf.set(event.requestId, kind);
    tally.record(kind);
  });
  const ended = (event: unknown): void => {
    if (!isRecord(event)) return;
    const kind = kindOf.get(event.requestId);
    kindOf.delete(event.requestId);
    if (kind !== undefined && typeof event.duration === 'number') tally.time(kind, event.duration);
  };
  client.on('commandSucceeded', ended);
  client.on('commandFailed', ended);
  return tally;
}

function sqlText(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (isRecord(arg) && typeof arg.text === 'string') return arg.text;
  return '?';
}

/** `UPDATE account`, `INSERT transactlock`, `BEGIN`…: the statement verb and its first table. */
function sqlKind(sql: string): string {
  const verb = (/^\s*(\w+)/.exec(sql)?.[1] ?? '?').toUpperCase();
  const table = /\b(?:from|into|update|table|on)\s+((?:"(?:[^"]|"")+"|\w+)(?:\.(?:"(?:[^"]|"")+"|\w+))?)/i.exec(sql)?.[1];
  if (table === undefined) return verb;
  const last = table.split('.').pop() ?? table;
  return `${verb} ${last.replace(/^"|"$/g, '')}`;
}

let pgTally: Tally | undefined;

/**
 * Every statement pg sends goes through Client#query (sails-postgresql on `pool.connect()`
 * clients, the store through `pool.query()`, which checks out a client and calls it once).
 * Patched once per process, on the pg module sails-postgresql itself loads.
 */
export function pgCounter(): Tally {
  const ours = require.resolve('pg');
  const theirs = require.resolve('pg', { paths: [dirname(require.resolve('machinepack-postgresql'))] });
  if (ours !== theirs) throw new Error(`sails-postgresql loads another pg (${theirs}) than this counter (${ours}): counts would miss its queries`);
  if (pgTally !== undefined) return pgTally;
  const tally = new Tally();
  const proto = PgClient.prototype as unknown as { query: (this: unknown, ...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function query(this: unknown, ...args: unknown[]): unknown {
    const kind = sqlKind(sqlText(args[0]));
    tally.record(kind);
    const t0 = performance.now();
    const done = (): void => tally.time(kind, performance.now() - t0);
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      // sails-postgresql's style: query(sql, bindings, cb)
      args[last] = function (this: unknown, ...results: unknown[]): unknown {
        done();
        return Reflect.apply(callback, this, results);
      };
      return original.apply(this, args);
    }
    const result = original.apply(this, args);
    if (result instanceof Promise) result.then(done, done);
    return result;
  };
  pgTally = tally;
  return tally;
}

/** The contract methods of the sails-disk stores (AtomicStore, RecordStore): each call is one round trip. */
const DISK_CALLS = {
  store: ['insertLog', 'getLog', 'updateLog', 'findExpiredLogs', 'findCommittedTouching', 'insertLocks', 'findLocks', 'renewLocks', 'findExpiredLocks', 'deleteLocks', 'serverTime', 'fenceLocks', 'writeDocuments', 'findLateInserts', 'readView', 'sumCandidates', 'sum'],
  records: ['grant', 'reserve', 'read', 'write', 'renew', 'findExpired', 'view'],
} as const;

/**
 * sails-disk's round trips: every call of a contract method of the app's DiskStore and
 * DiskRecords (neither calls its own contract methods, so nothing is counted twice). Counted on
 * the app's own instances: Sails loads a hook's modules afresh for each app (it clears their
 * require cache), so the classes this file imports are not the app's.
 */
export function diskCounter(app: LoadedApp): Tally {
  const engine = app.hooks.transact.engine;
  if (engine === undefined) throw new Error('transact hook has no engine');
  // The engine's retrying store (every engine call goes through it): a counter set on it counts each call once, around its retries.
  const inner: unknown = engine.store;
  const tally = new Tally();
  const subjects: [keyof typeof DISK_CALLS, unknown][] = [['store', inner], ['records', engine.records]];
  for (const [prefix, subject] of subjects) {
    if (subject === undefined) continue;
    if ((subject as { constructor: { name: string } }).constructor.name !== (prefix === 'store' ? 'DiskStore' : 'DiskRecords')) throw new Error(`the app's ${prefix} is no sails-disk store`);
    const methods = subject as Record<string, (...args: unknown[]) => unknown>;
    for (const name of DISK_CALLS[prefix]) {
      const original = methods[name];
      if (typeof original !== 'function') throw new Error(`${prefix}.${name} is no method of the sails-disk store: the counter is out of date`);
      methods[name] = function counting(this: unknown, ...args: unknown[]): unknown {
        // a record call's first argument is its model
        const kind = prefix === 'records' && typeof args[0] === 'string' ? `${prefix}.${name} ${args[0]}` : `${prefix}.${name}`;
        tally.record(kind);
        const t0 = performance.now();
        const done = (): void => tally.time(kind, performance.now() - t0);
        const result: unknown = Reflect.apply(original, subject, args);
        if (result instanceof Promise) result.then(done, done);
        return result;
      };
    }
  }
  return tally;
}

/** The counter of a loaded app's adapter (call pgCounter before loading, to count setup too). */
export function counterOf(app: LoadedApp, adapter: Target['adapter']): Tally {
  switch (adapter) {
    case 'disk':
      return diskCounter(app);
    case 'mongo':
      return mongoCounter(app);
    case 'postgresql':
      return pgCounter();
  }
}
