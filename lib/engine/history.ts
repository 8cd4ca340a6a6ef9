/** A document's history as the log knows it (the pure parts: lib/history.ts). */
import { type Version, stateAt, versionsOf } from '../history';
import { documentKey } from '../operations';
import type { Image } from '../types';
import type { EngineContext } from './context';

export class DocumentHistory {
  constructor(private readonly ctx: Pick<EngineContext, 'store' | 'documents' | 'models'>) {}

  /** Every committed version of a document, oldest first, from the log. */
  async history(model: string, id: string): Promise<Version[]> {
    this.ctx.models.requireModel(model);
    return versionsOf(await this.ctx.store.findCommittedTouching(documentKey(model, id)), model, id);
  }

  /** The document as it was at `at` (a Date or epoch ms), as far as the log knows. */
  async stateAt(model: string, id: string, at: Date | number): Promise<Image | null> {
    const versions = await this.history(model, id);
    const current = (await this.ctx.documents.readImages([{ model, id }])).get(documentKey(model, id)) ?? null;
    return stateAt(versions, typeof at === 'number' ? at : at.getTime(), current);
  }
}
