/**
 * Proves the network-fault harness (scripts/toxiproxy.sh + test/support/toxiproxy.ts) really
 * sits in the TCP path to PostgreSQL: later tests trust it to stall one process's traffic, so
 * a proxy that silently passed traffic straight through would make them pass for nothing.
 * Needs TOXIPROXY_URL (scripts/test-env.sh sets it); without it the suite is skipped with the
 * reason printed, except under CI=true, where a missing harness must fail.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { addToxic, createProxy, deleteProxy, proxiedUrl, removeToxic, toxiproxyUrl, type Toxic, type ToxiProxy } from '../../support/toxiproxy';

const PG_DIRECT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const LATENCY_MS = 1500;

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

describe('toxiproxy harness [postgresql]', function () {
  this.timeout(10_000);

  let proxy: ToxiProxy | undefined;
  let client: Client | undefined;
  let latency: Toxic | undefined;

  before(async function () {
    if (toxiproxyUrl() === undefined) {
      const reason = 'TOXIPROXY_URL is not set (start one with scripts/toxiproxy.sh start DIR PORT)';
      if (process.env.CI === 'true') throw new Error(`${reason}; required under CI`);
      console.warn(`      skipped: ${reason}`);
      this.skip();
    }
    proxy = await createProxy(`pg_${randomBytes(4).toString('hex')}`, new URL(PG_DIRECT_URL).host);
    client = new Client({ connectionString: proxiedUrl(PG_DIRECT_URL, proxy) });
    await client.connect();
  });

  after(async function () {
    await client?.end().catch(() => undefined);
    if (proxy !== undefined) await deleteProxy(proxy);
  });

  function pg(): Client {
    if (client === undefined) throw new Error('client used before the suite was set up');
    return client;
  }

  it('carries queries through the proxy', async function () {
    const result = await pg().query<{ one: number }>('SELECT 1 AS one');
    expect(result.rows[0]?.one).to.equal(1);
  });

  it('delays an open connection by an upstream latency toxic', async function () {
    if (proxy === undefined) throw new Error('no proxy');
    latency = await addToxic(proxy, { type: 'latency', stream: 'upstream', attributes: { latency: LATENCY_MS } });
    const ms = await timed(() => pg().query('SELECT 1'));
    expect(ms, `SELECT 1 took ${ms.toFixed(0)} ms`).to.be.at.least(LATENCY_MS - 100);
  });

  it('is fast again once the toxic is removed', async function () {
    if (proxy === undefined || latency === undefined) throw new Error('no proxy or toxic');
    await removeToxic(proxy, latency);
    const ms = await timed(() => pg().query('SELECT 1'));
    expect(ms, `SELECT 1 took ${ms.toFixed(0)} ms`).to.be.below(500);
  });
});
