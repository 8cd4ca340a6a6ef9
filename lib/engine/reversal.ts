/** Reversing a committed transaction with a new, linked one (the pure planning: lib/reversal.ts). */
import { TransactError } from '../errors';
import { newId } from '../ids';
import { ownerToken, tombstone } from '../recovery';
import { planReversal, stepsByDocument } from '../reversal';
import { type ReversalInput, validateReversal } from '../schema';
import { isTerminal } from '../state';
import type { Image, LogDocument } from '../types';
import type { EngineContext } from './context';
import type { InteractiveTransactions } from './interactive';
import type { ReversalResult } from './types';

/** `model:id` back into its parts (ids may contain ':'; identities may not). */
function splitKey(key: string): [string, string] {
  const colon = key.indexOf(':');
  return [key.slice(0, colon), key.slice(colon + 1)];
}

export class Reversals {
  constructor(
    private readonly ctx: Pick<EngineContext, 'store' | 'clock' | 'options' | 'models'>,
    /** A reversal runs as an interactive transaction. */
    private readonly interactive: Pick<InteractiveTransactions, 'interactive'>,
  ) {}

  /**
   * Undoes a committed transaction with a new one that links to it (and it to the new one).
   * Refused if a document it touched changed since (increments excepted: they are decremented,
   * within their bounds), if it is already reversed, or if it created financial documents that
   * cannot be taken back.
   */
  async reverse(txId: string, input: ReversalInput): Promise<ReversalResult> {
    const { reason } = validateReversal(input);
    const original = await this.ctx.store.getLog(txId);
    if (original === null) throw new TransactError('not_found', `no transaction ${txId}`, { path: 'id' });
    if (original.state !== 'committed') throw new TransactError('not_committed', `transaction ${txId} is ${original.state}; only committed transactions are reversed`);
    const reversalId = newId();
    await this.claimReversal(original, reversalId);
    try {
      await this.interactive.interactive(
        async (tx) => {
          const current = new Map<string, Image | null>();
          for (const key of stepsByDocument(original.steps).keys()) {
            const [model, id] = splitKey(key);
            current.set(key, await tx.read(model, id));
          }
          const plan = planReversal(original, current, this.ctx.models.knownInfo);
          if (plan.conflicts.length > 0) {
            throw new TransactError('conflict', `documents changed since ${txId} committed: ${plan.conflicts.join(', ')}`, { details: { documents: plan.conflicts } });
          }
          if (plan.irreversible.length > 0) {
            throw new TransactError('irreversible', `financial documents created by ${txId} cannot be taken back: ${plan.irreversible.join(', ')}`, { details: { documents: plan.irreversible } });
          }
          for (const operation of plan.operations) await tx.apply(operation);
        },
        { label: `reversal of ${txId}` },
        { txId: reversalId, reverses: txId, reason },
      );
    } catch (err) {
      await this.ctx.store.updateLog(txId, { states: ['committed'], reversedBy: reversalId }, { reversedBy: null }).catch(() => undefined);
      throw err;
    }
    return { id: reversalId, reverses: txId };
  }

  /**
   * Marks the original as being reversed by `reversalId`, with a compare-and-set so that two
   * reversals never both run. A mark left by a reversal that rolled back, or died before it
   * logged (it gets a tombstone first), is taken over.
   */
  private async claimReversal(original: LogDocument, reversalId: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = (await this.ctx.store.getLog(original.id)) as LogDocument;
      const previous = current.reversedBy;
      if (previous === reversalId) return; // this claim landed, and its reply was lost
      if (previous !== null) {
        const earlier = await this.ctx.store.getLog(previous);
        if (earlier?.state === 'committed') {
          throw new TransactError('already_reversed', `transaction ${original.id} was already reversed by ${previous}`, { details: { reversal: previous } });
        }
        if (earlier !== null && !isTerminal(earlier.state)) {
          throw new TransactError('in_progress', `transaction ${original.id} is being reversed by ${previous}`, { details: { reversal: previous } });
        }
        if (earlier === null) {
          await this.ctx.store.insertLog(tombstone(previous, ownerToken(this.ctx.options.instanceId), 'abandoned_reversal', 'a reversal claimed the transaction but never logged', this.ctx.clock.now()));
          continue;
        }
      }
      if (await this.ctx.store.updateLog(original.id, { states: ['committed'], reversedBy: previous }, { reversedBy: reversalId })) return;
    }
    throw new TransactError('in_progress', `transaction ${original.id} is being reversed concurrently`);
  }
}
