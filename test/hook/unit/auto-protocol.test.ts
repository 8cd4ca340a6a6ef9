/**
 * What `protocol: 'auto'` runs, per datastore: decided by the adapter, and on sails-mongo also by
 * the server once connected (lib/store/index.ts autoProtocolOn): log protocol v3 on MongoDB, the
 * log protocol (v2) on a FerretDB that answers buildInfo as FerretDB (its conditional updates are
 * not atomic; docs/protocol-v3.md "What the datastore must guarantee").
 */
import { expect } from 'chai';
import { autoProtocolOn, runningProtocol } from '../../../lib/store';
import type { WaterlineModel } from '../../../lib/core/waterline';

function logModelOn(adapter: string, buildInfo: Record<string, unknown> | Error): WaterlineModel {
  const manager = { command: async () => (buildInfo instanceof Error ? Promise.reject(buildInfo) : buildInfo) };
  return { getDatastore: () => ({ config: { adapter }, manager }) } as unknown as WaterlineModel;
}

describe("protocol 'auto'", function () {
  it('runs v3 on sails-disk and MongoDB, the native path on sails-postgresql; an explicit protocol is kept', function () {
    expect(runningProtocol('auto', 'disk')).to.equal('redo');
    expect(runningProtocol('auto', 'mongo')).to.equal('redo');
    expect(runningProtocol('auto', 'postgresql')).to.equal('native');
    expect(runningProtocol('log', 'mongo')).to.equal('log');
    expect(runningProtocol('redo', 'postgresql')).to.equal('redo');
  });

  it('on a MongoDB server: v3, no reason', async function () {
    expect(await autoProtocolOn(logModelOn('sails-mongo', { version: '7.0.14', ok: 1 }))).to.deep.equal({ protocol: 'redo', reason: null });
  });

  it('on FerretDB: the log protocol (v2), saying why', async function () {
    const auto = await autoProtocolOn(logModelOn('sails-mongo', { version: '7.0.42', ferretdbVersion: 'v1.24.2', ok: 1 }));
    expect(auto.protocol).to.equal('log');
    expect(auto.reason).to.match(/FerretDB v1\.24\.2 does not apply a conditional update atomically/);
  });

  it('on FerretDB behind the atomic gate (scripts/mongo-atomic-gate.js): v3, as on MongoDB', async function () {
    expect(await autoProtocolOn(logModelOn('sails-mongo', { version: '7.0.42', ferretdbGated__: 'v1.24.2', ok: 1 }))).to.deep.equal({ protocol: 'redo', reason: null });
  });

  it('on sails-disk and sails-postgresql the server is not asked', async function () {
    const unanswered = new Error('buildInfo must not be sent');
    expect(await autoProtocolOn(logModelOn('sails-disk', unanswered))).to.deep.equal({ protocol: 'redo', reason: null });
    expect(await autoProtocolOn(logModelOn('sails-postgresql', unanswered))).to.deep.equal({ protocol: 'native', reason: null });
  });
});
