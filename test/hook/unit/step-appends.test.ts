/**
 * The interactive handle after a step append failed (lib/engine/transaction.ts): every later append is
 * guarded by the step count it extends (Lease.writeSteps), and the failed one may have landed, so
 * the handle must not append again — only a rollback is safe. Pure: a stub backend, no database.
 */
import { expect } from 'chai';
import type { ModelInfo } from '../../../lib/core/model-info';
import { Transaction } from '../../../lib/engine/transaction';
import type { TxBackend } from '../../../lib/store/contract';
import type { Image, Step } from '../../../lib/core/types';
import { modelInfo } from '../../support/model-info';

const account: ModelInfo = modelInfo('account', { id: { type: 'string' }, owner: { type: 'string' }, balance: { type: 'number' } }, {});

/** A backend whose first step append fails as a lost reply does; it records what each append was given. */
class FailingFirstAppend implements TxBackend {
  readonly appends: number[] = [];
  readonly applied: string[] = [];
  private failed = false;

  async lock(_info: ModelInfo, id: string): Promise<{ image: Image | null }> {
    return { image: { id, owner: 'Alice', balance: 100 } };
  }

  async record(steps: readonly Step[]): Promise<void> {
    this.appends.push(steps.length);
    if (!this.failed) {
      this.failed = true;
      throw Object.assign(new Error('connection 3 to 127.0.0.1:27017 timed out'), { name: 'MongoNetworkTimeoutError' });
    }
  }

  async apply(step: Step): Promise<void> {
    this.applied.push(step.id);
  }
}

describe('interactive step appends (pure)', function () {
  it('a failed step append breaks the handle: no later append, no later write, the transaction fails with that error', async function () {
    const backend = new FailingFirstAppend();
    const tx = new Transaction('tx-1', { backend, infoOf: () => account, now: () => 1_000 });
    const first = await tx.increment('account', 'a1', 'balance', -10).then(() => null, (err: unknown) => err);
    expect((first as Error | null)?.name, 'the failed append rejects its write').to.equal('MongoNetworkTimeoutError');
    const second = await tx.increment('account', 'b1', 'balance', 10).then(() => null, (err: unknown) => err);
    expect(second, 'a later write fails with the same error, unappended').to.equal(first);
    expect(backend.appends, 'one append only: none after the failed one').to.deep.equal([1]);
    expect(backend.applied, 'nothing written').to.deep.equal([]);
  });
});
