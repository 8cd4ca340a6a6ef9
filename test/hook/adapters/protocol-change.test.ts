/**
 * Changing protocol on a datastore (docs/operations.md, "Changing protocol"). The log protocol
 * (v2) and log protocol v3 do not exclude each other: a v2 transaction's documents are fenced
 * by lock rows v3 never reads. So v3 starts only once nothing v2 left is open: what a v2 process
 * killed under the earlier version left is settled by v2's own recovery at v3's first start; a
 * v2 owner still alive makes the start fail (`protocol_mismatch`) with nothing changed. Both
 * cases for real: a child killed (SIGKILL) or frozen (SIGSTOP) in the middle of a v2 batch.
 */
import { expect } from 'chai';
import { runChild, startChild, waitStopped } from '../../support/child';
import { forEachRedoAdapter, freshTarget } from '../../support/targets';

type Row = Record<string, unknown>;
interface State {
  accounts: Row[];
  transfers: Row[];
  logs: Row[];
  locks: Row[];
}

const V2 = { TRANSACT_PROTOCOL: 'log' };
const V3 = { TRANSACT_PROTOCOL: 'redo' };

forEachRedoAdapter('changing protocol: from the log protocol (v2) to log protocol v3', (_target, adapter) => {
  it('a v2 batch killed mid-apply is rolled back at the first v3 start: every account as before, no lock row, one rolled-back log', async function () {
    const target = await freshTarget(adapter);
    const run = await runChild(target, ['run', 'batch'], 'batch:applied#3', V2);
    expect(run.signal, run.stderr).to.equal('SIGKILL');
    const seed = JSON.parse(run.lines.get('SEED') as string) as Row[];
    const lifted = await runChild(target, ['recover'], undefined, V3);
    expect(lifted.code, lifted.stderr).to.equal(0);
    const state = JSON.parse(lifted.lines.get('STATE') as string) as State;
    expect(state.accounts, 'every account equals its before-image').to.deep.equal(seed);
    expect(state.transfers).to.deep.equal([]);
    expect(state.locks).to.deep.equal([]);
    expect(state.logs.map((log) => log.state)).to.deep.equal(['rolled-back']);
  });

  it('a v2 owner still alive (frozen mid-apply, its lease long): v3 refuses to start (protocol_mismatch), and the owner, resumed, completes its batch', async function () {
    const target = await freshTarget(adapter);
    const frozen = startChild(target, ['run', 'batch'], 'batch:applied#3', { ...V2, TRANSACT_CRASH_SIGNAL: 'SIGSTOP', CHILD_LEASE_MS: '60000' });
    try {
      await waitStopped(frozen.process.pid as number);
      const refused = await runChild(target, ['recover'], undefined, V3);
      expect(refused.code, refused.stdout).to.equal(1);
      expect(refused.stderr).to.include('an instance runs the earlier protocol');
      expect(refused.lines.has('STATE')).to.equal(false);
    } finally {
      frozen.process.kill('SIGCONT');
    }
    const done = await frozen.done;
    expect(done.code, done.stderr).to.equal(0);
    expect(done.lines.has('DONE')).to.equal(true);
    // Nothing the refused start did got in the way: v3 now starts, and finds the batch whole.
    const lifted = await runChild(target, ['recover'], undefined, V3);
    expect(lifted.code, lifted.stderr).to.equal(0);
    const state = JSON.parse(lifted.lines.get('STATE') as string) as State;
    expect(state.logs.map((log) => log.state)).to.deep.equal(['committed']);
    expect(state.transfers).to.have.length(1);
    expect(state.locks).to.deep.equal([]);
  });
});
