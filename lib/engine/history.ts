/**
 * A document's history, read from the log: every committed version in commit order, and the
 * state at a given time. Pure functions over log documents; the store finds the logs.
 */
import { documentKey } from '../core/operations';
import type { Image, LogDocument, StepKind } from '../core/types';
import type { EngineContext } from './context';

export interface Version {
  transaction: string;
  committedAt: number;
  label: string | null;
  /** The kinds of write the transaction made to this document, in order. */
  kinds: StepKind[];
  /** The document before the transaction (null: it did not exist). */
  before: Image | null;
  /** The document after it (null: destroyed). */
  after: Image | null;
  /** Set when this transaction compensates another, or was compensated by one. */
  reverses: string | null;
  reversedBy: string | null;
}

/** The committed versions of one document, oldest first. */
export function versionsOf(logs: readonly LogDocument[], model: string, id: string): Version[] {
  const key = documentKey(model, id);
  return logs
    .filter((log) => log.state === 'committed' && log.endedAt !== null)
    .sort((a, b) => (a.endedAt as number) - (b.endedAt as number))
    .flatMap((log) => {
      const steps = log.steps.filter((step) => documentKey(step.model, step.id) === key);
      if (steps.length === 0) return [];
      return [{
        transaction: log.id,
        committedAt: log.endedAt as number,
        label: log.label,
        kinds: steps.map((step) => step.kind),
        before: steps[0].before,
        after: steps[steps.length - 1].after,
        reverses: log.reverses,
        reversedBy: log.reversedBy,
      }];
    });
}

/**
 * The document as it was at `at` (epoch ms): the after-image of the last version committed by
 * then; before the first version, that version's before-image; with no version, `current`.
 * Writes made outside the engine are not in the log, and so not in this answer.
 */
export function stateAt(versions: readonly Version[], at: number, current: Image | null): Image | null {
  let state: Image | null | undefined;
  for (const version of versions) {
    if (version.committedAt > at) break;
    state = version.after;
  }
  if (state !== undefined) return state;
  return versions.length > 0 ? versions[0].before : current;
}

export class DocumentHistory {
  constructor(private readonly ctx: Pick<EngineContext, 'store' | 'documents' | 'models'>) {}

  /** What Engine.history promises, its doc says (lib/engine/index.ts). */
  async history(model: string, id: string): Promise<Version[]> {
    this.ctx.models.requireModel(model);
    return versionsOf(await this.ctx.store.findCommittedTouching(documentKey(model, id)), model, id);
  }

  /** What Engine.stateAt promises, its doc says (lib/engine/index.ts). */
  async stateAt(model: string, id: string, at: Date | number): Promise<Image | null> {
    const versions = await this.history(model, id);
    const current = (await this.ctx.documents.readImages([{ model, id }])).get(documentKey(model, id)) ?? null;
    return stateAt(versions, typeof at === 'number' ? at : at.getTime(), current);
  }
}
