/**
 * Log protocol v3 (docs/protocol-v3.md) on each adapter that runs it: batches commit with nothing
 * but locks before the commit point, refusals leave nothing, creates and destroys keep ids taken,
 * keyed batches run once, and the rules R4–R7 settle what a dead or committed holder left.
 */
import { expect } from 'chai';
import type { Engine } from '../../../lib/engine';
import { newLog } from '../../../lib/core/log-document';
import { documentKey } from '../../../lib/core/operations';
import { lockToken, type RecordStore } from '../../../lib/store/records';
import { type LoadedApp, loadApp, lowerApp } from '../../support/app';
import { rejection } from '../../support/errors';
import { forEachRedoAdapter, type Target } from '../../support/targets';
import { skipWhereRecordsUnsafe } from '../../support/records';
import { rawDestroy } from '../../../lib/models/destroy-guard';

type Row = Record<string, unknown>;

forEachRedoAdapter('log protocol v3: batches', (target: () => Target, adapter) => {
  let app: LoadedApp;
  let engine: Engine;
  let records: RecordStore;

  before(async function () {
    // FerretDB (CI's MongoDB) answers a grant in ~240 ms under the 30-way contention below (measured:
    // 329 grants, 79 s in all, for 30 transfers): 5 s of waiting is too little for the last in line.
    const lockTimeoutMs = adapter === 'mongo' ? 30_000 : 5000;
    app = await loadApp(target(), { migrate: 'drop', transact: { protocol: 'redo', leaseMs: 2000, lockTimeoutMs } });
    engine = app.hooks.transact.engine as Engine;
    records = engine.records as RecordStore;
  });

  after(async function () {
    if (app !== undefined) await lowerApp(app);
  });

  beforeEach(async function () {
    for (const identity of ['account', 'transactlog', 'transactlock', 'transactrecord']) if (app.models[identity] !== undefined) await rawDestroy(app.models[identity])({});
    await app.models.account.createEach([
      { id: 'a1', owner: 'Alice', balance: 1000 },
      { id: 'a2', owner: 'Bob', balance: 500 },
      { id: 'a3', owner: 'Carol', balance: 0 },
    ]);
  });

  const balances = async (): Promise<Record<string, number>> =>
    Object.fromEntries(((await app.models.account.find({})) as Row[]).map((row) => [String(row.id), Number(row.balance)]));

  const transfer = (from: string, to: string, amount: number): unknown[] => [
    { op: 'increment', model: 'account', id: from, field: 'balance', by: -amount, min: 0 },
    { op: 'increment', model: 'account', id: to, field: 'balance', by: amount },
  ];

  it('commits a transfer: the log holds every step with the version its lock was granted at, and the records are free', async function () {
    const result = await engine.batch(transfer('a1', 'a2', 300));
    expect(await balances()).to.deep.equal({ a1: 700, a2: 800, a3: 0 });
    const log = await engine.getLog(result.id);
    expect(log?.state).to.equal('committed');
    const held = await records.read('account', ['a1', 'a2']);
    for (const step of log?.steps ?? []) {
      const record = held.find((r) => r.id === step.id);
      expect(step.version, `${step.id}'s step names the version it was held at`).to.be.a('number');
      expect(record?.version, 'the apply moved the version on').to.equal((step.version as number) + 1);
      expect(record?.lock).to.equal(null);
    }
  });

  it('a refusal before the commit point writes nothing: no log, the documents as they were, the records free', async function () {
    const err = await rejection(engine.batch(transfer('a3', 'a1', 50)));
    expect(err).to.include({ code: 'bound_violation' });
    expect(await balances()).to.deep.equal({ a1: 1000, a2: 500, a3: 0 });
    expect(await app.models.transactlog.count({})).to.equal(0);
    for (const record of await records.read('account', ['a1', 'a3'])) expect(record.lock).to.equal(null);
  });

  it('a create reserves its id before the commit point; a destroy leaves a tombstone that plain reads do not see; the id can be created again', async function () {
    await engine.batch([{ op: 'create', model: 'account', id: 'n1', values: { owner: 'Nina', balance: 5 } }]);
    expect(await rejection(engine.batch([{ op: 'create', model: 'account', id: 'n1', values: { owner: 'Nina', balance: 5 } }]))).to.include({ code: 'already_exists' });
    await engine.batch([{ op: 'destroy', model: 'account', id: 'n1' }]);
    expect(await app.models.account.findOne({ id: 'n1' })).to.equal(undefined);
    const [stone] = await records.read('account', ['n1']);
    expect(stone).to.include({ state: 'destroyed', lock: null });
    expect(await rejection(engine.batch([{ op: 'increment', model: 'account', id: 'n1', field: 'balance', by: 1 }]))).to.include({ code: 'not_found' });
    await engine.batch([{ op: 'create', model: 'account', id: 'n1', values: { owner: 'Nora', balance: 7 } }]);
    expect(await app.models.account.findOne({ id: 'n1' })).to.include({ owner: 'Nora', balance: 7 });
  });

  it('a failed create leaves a tombstone, never a document', async function () {
    const err = await rejection(engine.batch([{ op: 'create', model: 'account', id: 'n2', values: { owner: 'Nils', balance: 5 } }, ...transfer('a3', 'a1', 1)]));
    expect(err).to.include({ code: 'bound_violation' });
    expect(await app.models.account.findOne({ id: 'n2' })).to.equal(undefined);
    expect((await records.read('account', ['n2']))[0]).to.include({ state: 'destroyed', lock: null });
  });

  it('keyed: a repeat replays the first outcome, a concurrent repeat too, and the work runs once', async function () {
    const options = { idempotencyKey: 'k-1' };
    const [first, second] = await Promise.all([engine.batch(transfer('a1', 'a2', 10), options), engine.batch(transfer('a1', 'a2', 10), options)]);
    const third = await engine.batch(transfer('a1', 'a2', 10), options);
    expect(second.id).to.equal(first.id);
    expect(third.id).to.equal(first.id);
    expect(await balances()).to.deep.equal({ a1: 990, a2: 510, a3: 0 });
  });

  it("keyed: a repeat answered while the first run has not applied yet applies it first — the repeat's caller reads the committed writes with plain Model.find", async function () {
    const options = { idempotencyKey: 'k-apply' };
    // The first run stops between its commit point and its apply.
    const { atApply, release, restore } = holdFirstApply(records);
    try {
      const first = engine.batch(transfer('a1', 'a2', 25), options);
      await atApply;
      const repeat = await engine.batch(transfer('a1', 'a2', 25), options);
      expect(repeat.state).to.equal('committed');
      expect(await balances(), 'plain reads right after the repeat').to.deep.equal({ a1: 975, a2: 525, a3: 0 });
      release();
      expect((await first).id).to.equal(repeat.id);
    } finally {
      restore();
    }
    expect(await balances()).to.deep.equal({ a1: 975, a2: 525, a3: 0 });
    for (const record of await records.read('account', ['a1', 'a2'])) expect(record.lock).to.equal(null);
  });

  it('outcome() of a transaction committed and not yet applied applies it first: plain reads right after see its writes', async function () {
    const { atApply, release, restore } = holdFirstApply(records);
    try {
      const first = engine.batch(transfer('a1', 'a2', 40));
      await atApply;
      const [log] = (await app.models.transactlog.find({ state: 'committed' })) as { id: string }[];
      expect((await engine.outcome(log.id)).state).to.equal('committed');
      expect(await balances(), 'plain reads right after outcome()').to.deep.equal({ a1: 960, a2: 540, a3: 0 });
      release();
      await first;
    } finally {
      restore();
    }
  });

  it('R2 within an attempt: a give-back whose reply was lost, delivered after the attempt holds the record again and commits, lands nowhere', async function () {
    // Another process holds a1 (no log, its lease running): the transfer a1 → a2 is granted a2,
    // gives it back while it waits for a1, and that give-back's reply is lost; it lands only later,
    // just before the transfer (which found a2 still held by its own token) applies.
    const [held] = await records.grant('account', ['a1'], { token: lockToken('other', 0), until: engine.clock.now() + 60_000 });
    const write = records.write.bind(records);
    let withheld: Parameters<RecordStore['write']>[0] | null = null;
    let gaveBack: () => void = () => undefined;
    const givenBack = new Promise<void>((ok) => (gaveBack = ok));
    records.write = async (writes) => {
      if (withheld === null && writes.length > 0 && writes.every((one) => one.transition.kind === 'free' && one.id === 'a2')) {
        withheld = writes;
        gaveBack();
        return new Set(); // sent, not answered: it has not landed yet
      }
      if (withheld !== null && writes.some((one) => one.transition.kind === 'apply')) {
        await write(withheld); // the lost give-back arrives now, late
        withheld = [];
      }
      return write(writes);
    };
    try {
      const run = engine.batch(transfer('a1', 'a2', 10));
      await givenBack;
      await write([{ model: 'account', id: 'a1', token: lockToken('other', 0), version: held.version, transition: { kind: 'free' } }]);
      await run;
    } finally {
      records.write = write;
    }
    expect(withheld, 'the give-back was delivered').to.deep.equal([]);
    expect(await balances()).to.deep.equal({ a1: 990, a2: 510, a3: 0 });
    for (const record of await records.read('account', ['a1', 'a2'])) expect(record.lock).to.equal(null);
  });

  it('concurrent transfers over shared accounts all commit, conserve money and leave no lock', async function () {
    // FerretDB's conditional updates are not atomic: two grants of one record both land, and money is not conserved (seen: 1502).
    await skipWhereRecordsUnsafe(this, app);
    // Never from a3, which starts empty: every one of them must commit.
    const pairs: [string, string][] = [['a1', 'a2'], ['a2', 'a3'], ['a2', 'a1'], ['a1', 'a3']];
    const settled = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => engine.batch(transfer(...pairs[i % pairs.length], 1))));
    expect(settled.filter((outcome) => outcome.status === 'rejected')).to.deep.equal([]);
    const after = await balances();
    expect(after.a1 + after.a2 + after.a3).to.equal(1500);
    for (const record of await records.read('account', ['a1', 'a2', 'a3'])) expect(record.lock).to.equal(null);
    expect(await app.models.transactlog.count({ state: 'committed' })).to.equal(30);
  });

  it('R5: a holder with no log whose lease ended is declared dead (a tombstone log) and its record taken over', async function () {
    const ghost = lockToken('ghost-tx', 0);
    await records.grant('account', ['a1'], { token: ghost, until: engine.clock.now() - 60_000 });
    await engine.batch(transfer('a1', 'a2', 1));
    expect(await balances()).to.deep.equal({ a1: 999, a2: 501, a3: 0 });
    expect((await engine.getLog('ghost-tx'))?.state).to.equal('rolled-back');
  });

  it('R5: a record its committed holder did not apply is applied by the next transaction that meets it, before its own write', async function () {
    const token = lockToken('dead-committed', 0);
    const [held] = await records.grant('account', ['a1'], { token, until: engine.clock.now() + 60_000 });
    const before = { ...(await app.models.account.findOne({ id: 'a1' })) } as Row;
    await engine.store.insertLog(newLog({
      id: 'dead-committed', state: 'committed', mode: 'batch', onCrash: 'rollback', owner: 'x#1', leaseUntil: 0, startedAt: 0, endedAt: 0,
      steps: [{ seq: 0, kind: 'update', model: 'account', id: 'a1', before, after: { ...before, balance: 2000 }, version: held.version }],
      documents: [documentKey('account', 'a1')],
    }));
    expect((await balances()).a1, 'plain reads show the value before until it is applied').to.equal(1000);
    await engine.batch(transfer('a1', 'a2', 100));
    expect(await balances()).to.deep.equal({ a1: 1900, a2: 600, a3: 0 });
  });

  it('R7: a recovery pass applies what a committed holder left and frees what a dead one left', async function () {
    const [held] = await records.grant('account', ['a2'], { token: lockToken('c1', 0), until: 0 });
    const before = { ...(await app.models.account.findOne({ id: 'a2' })) } as Row;
    await engine.store.insertLog(newLog({
      id: 'c1', state: 'committed', mode: 'batch', onCrash: 'rollback', owner: 'x#1', leaseUntil: 0, startedAt: 0, endedAt: 0,
      steps: [{ seq: 0, kind: 'update', model: 'account', id: 'a2', before, after: { ...before, balance: 42 }, version: held.version }],
      documents: [documentKey('account', 'a2')],
    }));
    await records.grant('account', ['a3'], { token: lockToken('dead', 0), until: 0 });
    const summary = await engine.recovery.runOnce();
    expect(summary.locksReleased).to.equal(2);
    expect(await balances()).to.deep.equal({ a1: 1000, a2: 42, a3: 0 });
    for (const record of await records.read('account', ['a2', 'a3'])) expect(record.lock).to.equal(null);
    expect((await engine.getLog('dead'))?.state).to.equal('rolled-back');
  });

  it('where a store cannot claim unique values for updates (no claimUnique), an update that would change one is refused before anything is written (unique_change_unsupported)', async function () {
    // Every store here claims them (R9); the refusal stays for a RecordStore without claimUnique (the contract leaves it optional): one is made by hiding it.
    expect(records.claimUnique).to.be.a('function');
    const hidden = records as { claimUnique?: unknown };
    hidden.claimUnique = undefined;
    try {
      const id = `u-${adapter}`;
      await engine.batch([{ op: 'create', model: 'user', id, values: { username: `name-${adapter}`, passwordHash: 'x', role: 'readonly' } }]);
      const err = await rejection(engine.batch([{ op: 'update', model: 'user', id, set: { username: `other-${adapter}` } }]));
      expect(err).to.include({ code: 'unique_change_unsupported' });
      expect((err as { details?: unknown }).details).to.deep.include({ model: 'user', id, attributes: ['username'] });
      expect(await app.models.user.findOne({ id })).to.include({ username: `name-${adapter}` });
      expect((await records.read('user', [id]))[0].lock).to.equal(null);
      await engine.batch([{ op: 'update', model: 'user', id, set: { role: 'admin' } }]);
      expect(await app.models.user.findOne({ id })).to.include({ role: 'admin' });
    } finally {
      delete hidden.claimUnique;
    }
    expect(records.claimUnique).to.be.a('function');
  });

  it('round trips: a 2-account transfer makes at most 4 datastore calls, 5 with an idempotency key', async function () {
    const counted = countCalls([records, ['grant', 'reserve', 'read', 'write', 'renew', 'findExpired']], [engine.store, ['insertLog', 'getLog', 'updateLog', 'findExpiredLogs', 'findLocks', 'insertLocks', 'deleteLocks', 'readView']]);
    try {
      await engine.batch(transfer('a1', 'a2', 5));
      expect(counted.total(), counted.describe()).to.be.at.most(4);
      counted.reset();
      await engine.batch(transfer('a1', 'a2', 5), { idempotencyKey: 'rt-1' });
      expect(counted.total(), counted.describe()).to.be.at.most(5);
    } finally {
      counted.restore();
    }
  });
});

/** Counts calls to the record store's and the log store's methods (sails-disk has no wire: a call is its round trip). */
function countCalls(...targets: [object, string[]][]): { total(): number; describe(): string; reset(): void; restore(): void } {
  const calls: string[] = [];
  const restores: (() => void)[] = [];
  for (const [target, names] of targets) {
    const object = target as Record<string, unknown>;
    for (const name of names) {
      const original = object[name] as (...args: unknown[]) => unknown;
      object[name] = (...args: unknown[]): unknown => {
        calls.push(`${target.constructor.name}.${name}`);
        return original.apply(object, args);
      };
      restores.push(() => {
        delete object[name];
      });
    }
  }
  return { total: () => calls.length, describe: () => calls.join(', '), reset: () => calls.splice(0), restore: () => restores.forEach((r) => r()) };
}

/**
 * Holds the first apply written through `records` (a run between its commit point and its apply)
 * until `release`; `atApply` resolves once it is held; `restore` releases it and unwraps the store.
 */
function holdFirstApply(records: RecordStore): { atApply: Promise<void>; release: () => void; restore: () => void } {
  const write = records.write.bind(records);
  let release: () => void = () => undefined;
  const released = new Promise<void>((ok) => (release = ok));
  let reached: () => void = () => undefined;
  const atApply = new Promise<void>((ok) => (reached = ok));
  let held = false;
  records.write = async (writes) => {
    if (!held && writes.some((one) => one.transition.kind === 'apply')) {
      held = true;
      reached();
      await released;
    }
    return write(writes);
  };
  return {
    atApply,
    release: () => release(),
    restore: () => {
      release();
      records.write = write;
    },
  };
}
