/**
 * R9 for creates whose record is not a stub reserved with their values (lib/engine/redo/attempt.ts
 * uniqueChanges): a create of an id that is a tombstone the reservation left free (its record
 * granted, not reserved), and an interactive create of an id the transaction read first (its
 * stub reserved with no values), claim their unique values before the commit point as an update
 * does, so a value another document holds is refused (`already_exists`) with nothing written.
 * Found by the deterministic simulation (seeds 5585 and 8615 on 'redo-generic': two committed
 * members with one handle). Pure: the simulated log store and records (SimulatedRecords reserves
 * only ids never seen, as the RecordStore contract states), applying every call at once.
 */
import { expect } from 'chai';
import { Engine } from '../../../lib/engine';
import { TransactError } from '../../../lib/core/errors';
import { ENGINE_OPTIONS, MODELS } from '../../sim/cluster';
import { directTransport } from '../../sim/database';
import { RECORD_FIELDS, SimulatedRecords } from '../../sim/simulated-records';
import { createSimulatedStore } from '../../sim/simulated-store';

function setup(): { engine: Engine; handles: () => string[] } {
  const { store, db, modelOf } = createSimulatedStore(MODELS);
  db.table('member').set('taken', { id: 'taken', handle: 'ann', tag: 'initial' });
  // A tombstone, free: an id once created and destroyed (its handle gone with it).
  db.table('member').set('gone', { id: 'gone', [RECORD_FIELDS.version]: 3, [RECORD_FIELDS.state]: 'destroyed' });
  const engine = new Engine(store, modelOf, { ...ENGINE_OPTIONS, instanceId: 'inst-a' }, () => undefined, undefined, () => MODELS.map((m) => m.identity), new SimulatedRecords(db, directTransport, modelOf));
  const handles = (): string[] => [...db.table('member').values()].filter((row) => row[RECORD_FIELDS.state] === undefined).map((row) => String(row.handle)).sort();
  return { engine, handles };
}

async function refusal(run: () => Promise<unknown>): Promise<TransactError> {
  try {
    await run();
  } catch (err) {
    if (err instanceof TransactError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('log protocol v3: creates claim their unique values when no stub of theirs holds them (R9, pure)', function () {
  it('a batch create over a free tombstone of a value another member holds is refused, and writes nothing', async function () {
    const { engine, handles } = setup();
    const err = await refusal(() => engine.batch([{ op: 'create', model: 'member', id: 'gone', values: { handle: 'ann', tag: 'again' } }]));
    expect(err.code).to.equal('already_exists');
    expect(handles()).to.deep.equal(['ann']);
    const created = await engine.batch([{ op: 'create', model: 'member', id: 'gone', values: { handle: 'bob', tag: 'again' } }]);
    expect(created.state).to.equal('committed');
    expect(handles()).to.deep.equal(['ann', 'bob']);
  });

  it('an interactive create of an id read first (absent: a stub with no values) is refused a value another member holds', async function () {
    const { engine, handles } = setup();
    const err = await refusal(() => engine.interactive(async (tx) => {
      expect(await tx.read('member', 'fresh')).to.equal(null);
      await tx.create('member', { handle: 'ann', tag: 'fresh' }, 'fresh');
    }));
    expect(err.code).to.equal('already_exists');
    expect(handles()).to.deep.equal(['ann']);
    await engine.interactive(async (tx) => {
      expect(await tx.read('member', 'fresh')).to.equal(null);
      await tx.create('member', { handle: 'cy', tag: 'fresh' }, 'fresh');
    });
    expect(handles()).to.deep.equal(['ann', 'cy']);
  });
});
