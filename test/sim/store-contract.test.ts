/**
 * The store contract (lib/store/contract.ts, cases in test/support/store-contract.ts) against the
 * simulation's SimulatedStore: the store the simulation's generic flavour runs on is held to the
 * same cases as every real store, so the simulation cannot drift from them. Its operations reach
 * the simulated database through a transport that can fail the next lock insert before it
 * applies, or after (the reply lost), as the real stores' drivers are made to fail.
 */
import { transientError } from '../support/flaky';
import { accountSubject, type ContractSubject, defineStoreContract, type LockInsertFault } from '../support/store-contract';
import { directTransport, type Transport } from './database';
import { createSimulatedStore } from './simulated-store';

/** Applies each operation at once, failing the next lock insert on demand. */
function faultyTransport(fault: { next: LockInsertFault }): Transport {
  return {
    async call<T>(label: string, refs: readonly string[], apply: () => T): Promise<T> {
      if (!label.startsWith('insertLocks(') || fault.next === null) return directTransport.call(label, refs, apply);
      const when = fault.next;
      fault.next = null;
      if (when === 'before') throw transientError();
      apply();
      throw transientError();
    },
  };
}

describe('store contract [simulated]', function () {
  async function open(): Promise<ContractSubject> {
    const fault: { next: LockInsertFault } = { next: null };
    const { store, modelOf } = createSimulatedStore(
      [{ identity: 'account', attributes: { owner: { type: 'string' }, balance: { type: 'number' } } }],
      undefined,
      faultyTransport(fault),
    );
    const account = modelOf('account');
    if (account === undefined) throw new Error('the simulated account model is missing');
    return accountSubject(store, (values) => account.create(values), async (id) => (await account.find({ where: { id } }))[0], null, fault);
  }

  defineStoreContract(open, {});
});
