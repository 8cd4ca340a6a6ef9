/**
 * Production refuses the mistakes that put money at risk before any request: a missing or
 * development webhook secret, Sails' default port, sails-disk. Run as `node app.js`, the way
 * `npm start` does, in a child process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import { dropRedisKeys, redisPrefix, startServer, TEST_REDIS_URL } from '../support/server';
import { freshTarget, required } from '../support/targets';

const APP = join(__dirname, '..', '..', '..', 'app.js');
const GOOD_SECRET = 'a-production-secret-that-is-long-enough-0123456789';

interface Exit {
  code: number | null;
  output: string;
}

/** Starts the app with `env`; resolves when it exits, or kills it once it reports it lifted. */
function start(env: Record<string, string>): Promise<Exit> {
  return runScript(APP, env);
}

function runScript(script: string, env: Record<string, string>): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], {
      cwd: join(__dirname, '..', '..', '..'),
      env: { PATH: process.env.PATH ?? '', HOME: mkdtempSync(join(tmpdir(), 'transact-home-')), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (/Server lifted/.test(output)) child.kill('SIGTERM');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('production guard (node app.js, NODE_ENV=production)', function () {
  this.timeout(60_000);

  const prefix = redisPrefix();
  const base = { NODE_ENV: 'production', PORT: '4118', DATASTORE: 'postgresql', PG_URL: 'postgres://nobody@127.0.0.1:1/none', PAYMENT_WEBHOOK_SECRET: GOOD_SECRET, SESSION_SECRET: `session-${GOOD_SECRET}`, REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix };
  after(async function () {
    await dropRedisKeys(prefix);
  });

  const cases: [string, Record<string, string>, RegExp][] = [
    ['a missing webhook secret', { PAYMENT_WEBHOOK_SECRET: '' }, /PAYMENT_WEBHOOK_SECRET must be set/],
    ['the development webhook secret', { PAYMENT_WEBHOOK_SECRET: 'development-only-webhook-secret-do-not-use-in-production' }, /PAYMENT_WEBHOOK_SECRET must be set/],
    ["Sails' default port", { PORT: '1337' }, /PORT must be set, and not to the default 1337/],
    ['no port at all', { PORT: '' }, /PORT must be set/],
    ['sails-disk', { DATASTORE: 'disk' }, /DATASTORE must be mongo or postgresql/],
    ['a missing session secret', { SESSION_SECRET: '' }, /SESSION_SECRET must be set/],
    ['no Redis for sessions and login limits', { REDIS_URL: '' }, /REDIS_URL must be set/],
  ];
  for (const [name, env, message] of cases) {
    it(`refuses to start with ${name}`, async function () {
      const exit = await start({ ...base, ...env });
      expect(exit.code, exit.output).to.not.equal(0);
      expect(exit.output).to.match(message);
      expect(exit.output).to.not.match(/Server lifted/);
    });
  }

  it('starts with a production secret, a chosen port, a server-backed datastore and Redis; sends the session cookie Secure, over HTTPS only, and HSTS', async function () {
    let target;
    try {
      target = await freshTarget('postgresql');
    } catch (err) {
      if (required('postgresql')) throw err;
      this.skip();
    }
    const env = { ...base, PG_URL: target.location, TRANSACT_ADMIN_USER: 'ops', TRANSACT_ADMIN_PASSWORD: 'an-admin-password-for-this-test' };
    // production never alters a schema at start: the tables come from `npm run migrate`
    const migrated = await runScript(join(__dirname, '..', '..', 'scripts', 'migrate.js'), env);
    expect(migrated.code, migrated.output).to.equal(0);
    // behind a TLS-terminating proxy on loopback, which says the client spoke HTTPS
    const server = await startServer({ ...env, TRUST_PROXY: 'loopback' });
    try {
      expect(server.output()).to.not.match(/refusing to start/);
      const https = await request(server.base).get('/admin/login').set('X-Forwarded-Proto', 'https').expect(200);
      const cookies = (https.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
      expect(cookies.length, 'a session cookie (the form\'s CSRF token)').to.equal(1);
      expect(cookies[0]).to.match(/^fund\.admin\.sid=/).and.match(/; Secure/).and.match(/; HttpOnly/).and.match(/; SameSite=Strict/);
      expect(https.headers['strict-transport-security']).to.match(/^max-age=\d{7,}/);
      const api = await request(server.base).get('/api/health').set('X-Forwarded-Proto', 'https');
      expect(api.headers['strict-transport-security']).to.match(/^max-age=/);
      // plain HTTP: the cookie is never sent
      const plain = await request(server.base).get('/admin/login').expect(200);
      expect(plain.headers['set-cookie'], 'no cookie over plain HTTP').to.equal(undefined);
    } finally {
      await server.stop();
    }
  });
});
