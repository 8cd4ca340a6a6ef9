/**
 * The hook's configuration (`sails.config.transact`), with its defaults and its checks.
 */
import { hostname } from 'node:os';
import Joi = require('joi');
import { newId } from './core/ids';
import type { EngineOptions } from './engine';
import type { ErrorSpec } from './core/errors';
import type { RoutesConfig } from './http/rest';
import type { OpsConfig } from './ops';
import { sessionIdOf } from './ops/csrf';
import type { JobDefinition } from './scheduler';

export interface TransactConfig extends EngineOptions {
  /** The datastore that holds the log and lock models. */
  datastore: string;
  /** How often recovery looks for dead transactions; 0 turns the timer off (recovery still runs at start). */
  recoveryIntervalMs: number;
  /** false: no job runs on a timer (recovery still runs at start; jobs can be run by hand). */
  scheduler: boolean;
  /** The app's periodic jobs, by name. */
  jobs: Record<string, JobDefinition>;
  /**
   * 'auto': PostgreSQL's own transaction per engine transaction on sails-postgresql; log protocol
   * v3 (docs/protocol-v3.md) on sails-disk and MongoDB; the log protocol (v2) on FerretDB, whose
   * conditional updates are not atomic. 'log': the log protocol (v2) everywhere. 'redo': log
   * protocol v3 everywhere (sails-mongo: MongoDB, not FerretDB, whose conditional updates are not
   * atomic; sails-postgresql: in place of its own transactions). One protocol per datastore: v3's
   * first start settles what v2 left and refuses to lift while a v2 instance runs (docs/operations.md).
   */
  protocol: 'auto' | 'log' | 'redo';
  /**
   * The hook's REST endpoints over the log (list, get, run a batch, reverse, history, stuck,
   * settle): false (the default) or `{prefix, who?, maySeeAllKeys?, mayReadHistory?}`. Their action identities
   * are `transact/<name>`, for the app's policies.
   */
  routes: RoutesConfig | false;
  /**
   * Who runs Waterline's own `datastore.transaction(fn)` on the log's datastore when it is
   * sails-postgresql: 'native' leaves it to sails-postgresql (BEGIN…COMMIT, nothing logged);
   * 'engine' runs it through the engine, so it is logged (history, reversal). On sails-mongo and
   * sails-disk, which have no transactions of their own, it always runs through the engine.
   */
  waterlineTransactions: 'native' | 'engine';
  /**
   * The ops page (lib/ops): off unless given. `{path, actor}` mounts it at `path`, behind the
   * app's policies for `transact/ops/*`; `actor(req)` names who acts (null: read only).
   */
  ops: OpsConfig | false;
  /**
   * The app's own error codes, each with its HTTP status and meaning: added to the hook's in the
   * one registry (`sails.hooks.transact.errors`) that every answer of the hook and the app uses.
   */
  errors: Record<string, ErrorSpec>;
  /**
   * true: at lift, create the app's missing tables and add their missing columns, as the hook
   * always does for its own (lib/store/migrations.ts): nothing is dropped or rewritten. What
   * `npm run migrate` runs; the fund turns it on outside production.
   */
  evolveModels: boolean;
  /**
   * true: inside `sails.transact(async tx => …)` and an engine-run `datastore.transaction(async db
   * => …)`, model calls made without `.usingConnection(db)` (helpers, lifecycle callbacks) join
   * the transaction (lib/waterline-api/ambient.ts); `.meta({ transact: 'outside' })` and
   * `sails.hooks.transact.outside(fn)` run outside it. false (the default): they run outside, as
   * with Waterline's own transactions.
   */
  ambient: boolean;
}

/** What the app writes in `config.transact.ops`; the rest has defaults. */
export type OpsSettings = Pick<OpsConfig, 'path' | 'actor'> & Partial<OpsConfig>;

export const OPS_DEFAULTS: Omit<OpsConfig, 'path' | 'actor'> = { title: 'Transactions', back: null, pageSize: 50, maxScan: 20_000, session: sessionIdOf, secret: null, origins: null, mayReadHistory: null };

export const DEFAULTS: Omit<TransactConfig, 'instanceId'> = {
  datastore: 'default',
  leaseMs: 30_000,
  clockSkewMs: 2_000,
  lockTimeoutMs: 10_000,
  lockPollMs: 10,
  maxOps: 1_000,
  onCrash: 'rollback',
  recoveryBatchSize: 100,
  recoveryIntervalMs: 10_000,
  retry: { retries: 4, minTimeoutMs: 20, maxTimeoutMs: 1_000, factor: 2 },
  scheduler: true,
  jobs: {},
  protocol: 'auto',
  routes: false,
  waterlineTransactions: 'native',
  ops: false,
  errors: {},
  evolveModels: false,
  ambient: false,
};

const schema = Joi.object<TransactConfig>({
  datastore: Joi.string().required(),
  instanceId: Joi.string().pattern(/^[^#]+$/).required(),
  leaseMs: Joi.number().integer().min(100).required(),
  clockSkewMs: Joi.number().integer().min(0).required(),
  lockTimeoutMs: Joi.number().integer().min(0).required(),
  lockPollMs: Joi.number().integer().min(1).required(),
  maxOps: Joi.number().integer().min(1).required(),
  onCrash: Joi.string().valid('rollback', 'rollforward').required(),
  recoveryBatchSize: Joi.number().integer().min(1).required(),
  recoveryIntervalMs: Joi.number().integer().min(0).required(),
  scheduler: Joi.boolean().required(),
  protocol: Joi.string().valid('auto', 'log', 'redo').required(),
  routes: Joi.alternatives(
    Joi.boolean().valid(false),
    Joi.object({
      // '' (the root) or /segments: Sails binds it as given, so no trailing slash or pattern characters.
      prefix: Joi.string().allow('').pattern(/^(\/[A-Za-z0-9_.~-]+)*$/).required(),
      who: Joi.function(),
      maySeeAllKeys: Joi.function(),
      mayReadHistory: Joi.function(),
    }),
  ).required(),
  waterlineTransactions: Joi.string().valid('native', 'engine').required(),
  evolveModels: Joi.boolean().required(),
  ambient: Joi.boolean().required(),
  ops: Joi.alternatives()
    .try(
      Joi.valid(false),
      Joi.object({
        // An absolute path of plain segments, no trailing slash: it is put into links and the CSRF cookie's Path.
        path: Joi.string().pattern(/^(\/[A-Za-z0-9_-]+)+$/).max(200).required(),
        actor: Joi.function().required(),
        title: Joi.string().min(1).max(100).required(),
        // A path in the same app (never another origin, never a javascript: URL).
        back: Joi.alternatives()
          .try(Joi.valid(null), Joi.object({ href: Joi.string().pattern(/^\/[A-Za-z0-9_\-/]*$/).max(200).required(), label: Joi.string().min(1).max(60).required() }))
          .required(),
        pageSize: Joi.number().integer().min(1).max(500).required(),
        maxScan: Joi.number().integer().min(1).required(),
        session: Joi.function().required(),
        secret: Joi.string().min(32).allow(null).required(),
        // Origins as a browser sends them: scheme, host, an optional port; nothing after.
        origins: Joi.array().items(Joi.string().lowercase().pattern(/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/)).min(1).allow(null).required(),
        mayReadHistory: Joi.function().allow(null).required(),
      }),
    )
    .required(),
  errors: Joi.object()
    .pattern(/^[a-z][a-z0-9_]*$/, Joi.object({ status: Joi.number().integer().min(400).max(599).required(), meaning: Joi.string().min(1).max(300).required() }))
    .required(),
  jobs: Joi.object()
    .pattern(
      /^[a-z][a-z0-9-]*$/,
      Joi.object({
        intervalMs: Joi.number().integer().min(0).required(),
        jitterMs: Joi.number().integer().min(0),
        enabled: Joi.boolean(),
        run: Joi.function().required(),
      }),
    )
    .required(),
  retry: Joi.object({
    retries: Joi.number().integer().min(0).max(20).required(),
    minTimeoutMs: Joi.number().integer().min(0).required(),
    maxTimeoutMs: Joi.number().integer().min(Joi.ref('minTimeoutMs')).required(),
    factor: Joi.number().min(1).required(),
  }).required(),
});

/**
 * Fills defaults and checks the result. Without a configured instanceId each process gets a
 * unique one: safe, but a restarted process then waits for its dead transactions' leases.
 */
export function resolveConfig(given: (Omit<Partial<TransactConfig>, 'ops'> & { ops?: OpsSettings | false }) | undefined): TransactConfig {
  const ops = given?.ops === undefined || given.ops === false ? false : { ...OPS_DEFAULTS, ...given.ops };
  const merged = { ...DEFAULTS, instanceId: `${hostname()}:${process.pid}:${newId()}`, ...given, retry: { ...DEFAULTS.retry, ...given?.retry }, ops };
  const { error, value } = schema.validate(merged, { abortEarly: true, convert: false });
  if (error !== undefined) throw new Error(`sails-hook-transact: invalid config.transact: ${error.message}`);
  return value;
}
