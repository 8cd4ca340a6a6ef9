/**
 * A minimal Sails app, not the fund: an empty app directory, inline models, config and policies,
 * and the hook passed in as `hooks.transact` — what an app that installs the package gets, with
 * no `sails` global (the hook's actions must reach the app through `req._sails`).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import type { Engine } from '../../lib/engine';
import { freePort } from './app';
import { resetTarget, type Target } from './targets';

export interface MinimalApp {
  engine: Engine;
  models: Record<string, { find(c: object): Promise<Record<string, unknown>[]>; findOne(c: object): Promise<Record<string, unknown> | undefined>; count(c: object): Promise<number> }>;
  http: () => request.Agent;
  /** sails.reloadActions(): every hook registers its actions again, then the app's controllers. */
  reloadActions(): Promise<void>;
  /** The identities of the loaded hooks, in Sails' order. */
  hooks: string[];
  lower(): Promise<void>;
}

export interface MinimalOptions {
  /** config.transact, on top of recoveryIntervalMs: 0. */
  transact?: Record<string, unknown>;
  /** config.policies (its policy functions go in `moduleDefinitions`). */
  policies?: Record<string, unknown>;
}

function adapterOf(target: Target): Record<string, unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = (name: string): unknown => require(name);
  switch (target.adapter) {
    case 'disk':
      return { adapter: load('sails-disk'), dir: target.location };
    case 'mongo': {
      // A fresh copy: sails-mongo's teardown forgets nothing (see test/support/app.ts).
      const main = require.resolve('sails-mongo');
      delete require.cache[main];
      return { adapter: load(main), url: target.location };
    }
    case 'postgresql':
      return { adapter: load('sails-postgresql'), url: target.location };
  }
}

/**
 * Three models: `wallet` (transactional, with an allowlist, and its `receipts`), `receipt`
 * (transactional and financial) and `note` (unmarked: Sails' own blueprints).
 */
export function models(target: Target): Record<string, unknown> {
  const id = target.adapter === 'mongo' ? { type: 'string', required: true, columnName: '_id' } : { type: 'string', required: true };
  const money = { type: 'number', autoMigrations: { columnType: 'double precision' } };
  return {
    wallet: {
      transactional: true,
      http: { create: ['owner', 'balance', 'tags'], update: ['owner', 'tags'], destroy: true },
      attributes: { id, owner: { type: 'string', required: true, maxLength: 50 }, balance: { ...money, min: 0, defaultsTo: 0 }, tags: { type: 'json' }, receipts: { collection: 'receipt', via: 'wallet' } },
    },
    receipt: {
      transactional: true,
      financial: true,
      http: { create: ['amount'], update: ['memo'] },
      attributes: { id, amount: { ...money, required: true, min: 1 }, memo: { type: 'string', allowNull: true }, wallet: { model: 'wallet' } },
    },
    note: { attributes: { id, text: { type: 'string' } } },
  };
}

export async function liftMinimal(target: Target, options: MinimalOptions = {}): Promise<MinimalApp> {
  // migrate: 'drop' below means a fresh schema: lift never drops a table that holds rows.
  await resetTarget(target);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Sails = require('sails').constructor as new () => { lift(config: object, cb: (err?: Error) => void): void; lower(cb: (err?: Error) => void): void; reloadActions(cb: (err?: Error) => void): void; hooks: Record<string, unknown>; models: MinimalApp['models'] };
  const appPath = mkdtempSync(join(tmpdir(), 'transact-minimal-app-'));
  writeFileSync(join(appPath, 'package.json'), JSON.stringify({ name: 'minimal-app', private: true }));
  const app = new Sails();
  const config = {
    appPath,
    environment: 'test',
    port: await freePort(),
    explicitHost: '127.0.0.1',
    log: { level: process.env.SAILS_LOG_LEVEL ?? 'error' },
    globals: false,
    hooks: {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      orm: require('sails-hook-orm'),
      // The package's main export, as Sails would load it from node_modules.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      transact: require('../../lib'),
      grunt: false,
      sockets: false,
      pubsub: false,
      views: false,
      session: false,
      i18n: false,
    },
    models: { migrate: 'drop', datastore: 'default', dontUseObjectIds: true, attributes: { createdAt: { type: 'number', autoCreatedAt: true }, updatedAt: { type: 'number', autoUpdatedAt: true } } },
    datastores: { default: adapterOf(target) },
    orm: { moduleDefinitions: { models: models(target) } },
    blueprints: { shortcuts: false, actions: false, rest: true },
    policies: options.policies ?? {},
    transact: { recoveryIntervalMs: 0, ...options.transact },
  };
  await new Promise<void>((resolve, reject) => app.lift(config, (err) => (err ? reject(err) : resolve())));
  const expressApp = (app.hooks.http as { app: Parameters<typeof request>[0] }).app;
  return {
    engine: (app.hooks.transact as { engine: Engine }).engine,
    models: app.models,
    http: () => request.agent(expressApp),
    reloadActions: () => new Promise<void>((resolve, reject) => app.reloadActions((err) => (err ? reject(err) : resolve()))),
    hooks: Object.keys(app.hooks),
    lower: () => new Promise<void>((resolve, reject) => app.lower((err) => (err ? reject(err) : resolve()))),
  };
}
