/**
 * The engine's side of references between documents (the rules: lib/references.ts): which
 * attributes reference a model (cached), what transactions check references with, the documents
 * a batch must lock for its references, and a batch's checks once planned.
 */
import type { ModelInfo } from '../model-info';
import { documentKey } from '../operations';
import { checkNotReferenced, checkReferences, type Referrer, referencesSet, referrersOf } from '../references';
import type { ReferenceContext } from '../transaction';
import type { Image, Operation, Step } from '../types';
import type { WaterlineModel } from '../waterline';
import type { EngineContext } from './context';

export class EngineReferences {
  private readonly referrerCache = new Map<string, Referrer[]>();

  constructor(
    private readonly ctx: Pick<EngineContext, 'models' | 'reads' | 'retries'>,
    /** Every model's identity: who references whom. Without it, destroys are not checked for references. */
    private readonly identities: () => readonly string[],
  ) {}

  /** The attributes, of every model, that reference `target`. */
  referrersOf(target: string): Referrer[] {
    let found = this.referrerCache.get(target);
    if (found === undefined) {
      const infos = this.identities().map((identity) => this.ctx.models.infoOf(identity)).filter((info): info is ModelInfo => info !== undefined);
      found = referrersOf(infos, target);
      this.referrerCache.set(target, found);
    }
    return found;
  }

  /** What transactions check references with: lock destroyable targets, read committed ones, find referencing rows. */
  readonly context: ReferenceContext = {
    destroyable: (model) => {
      const info = this.ctx.models.infoOf(model);
      return info !== undefined && !info.financial;
    },
    committed: async (model, id) => {
      if (this.ctx.models.infoOf(model) !== undefined) return this.ctx.reads.findOne(model, id);
      const waterline = this.ctx.models.waterline(model);
      if (waterline === undefined) return null;
      const row = await this.ctx.retries.run(async () => waterline.findOne({ [waterline.primaryKey]: id }));
      return row ?? null;
    },
    referrers: (model) => this.referrersOf(model),
    find: async (referrer, id, limit, connection) => {
      const model = this.ctx.models.waterline(referrer.model) as WaterlineModel;
      const criteria = { where: { [referrer.attribute]: id }, limit };
      // Inside a native transaction: on its connection, not retried (a failure there fails the transaction).
      if (connection !== undefined) return (await model.find(criteria).meta({ leasedConnection: connection })).map((row) => String(row[model.primaryKey]));
      const rows = await this.ctx.retries.run(async () => model.find(criteria));
      return rows.map((row) => String(row[model.primaryKey]));
    },
  };

  /** Documents a batch must lock because its writes reference them (targets that can be destroyed; `all` on the native path). */
  referenceLocks(operations: readonly Operation[], all = false): { model: string; id: string }[] {
    const out: { model: string; id: string }[] = [];
    for (const operation of operations) {
      if (operation.op !== 'create' && operation.op !== 'update') continue;
      const info = this.ctx.models.knownInfo(operation.model);
      for (const { target, id } of referencesSet(info, operation.op === 'create' ? operation.values : operation.set)) {
        if (all ? this.ctx.models.infoOf(target) !== undefined : this.context.destroyable(target)) out.push({ model: target, id });
      }
    }
    return out;
  }

  /**
   * A batch's references, once planned against images read under lock: each names a document
   * (as the batch leaves it, else as locked, else committed), and no destroyed document is still
   * referenced. Nothing is logged or written yet.
   */
  async checkBatchReferences(operations: readonly Operation[], steps: readonly Step[], locked: ReadonlyMap<string, Image | null>, connection?: unknown): Promise<void> {
    const local = new Map<string, Image | null>();
    for (const step of steps) local.set(documentKey(step.model, step.id), step.after);
    const resolve = async (target: string, id: string): Promise<Image | null> => {
      const key = documentKey(target, id);
      if (local.has(key)) return local.get(key) ?? null;
      if (locked.has(key)) return locked.get(key) ?? null;
      return this.context.committed(target, id);
    };
    for (const [i, operation] of operations.entries()) {
      const info = this.ctx.models.knownInfo(operation.model);
      if (operation.op === 'create') await checkReferences(info, operation.values, `ops.${i}.values`, resolve);
      else if (operation.op === 'update') await checkReferences(info, operation.set, `ops.${i}.set`, resolve);
      else if (operation.op === 'destroy') {
        const referrers = this.referrersOf(operation.model);
        if (referrers.length === 0) continue;
        const mine = (model: string, id: string): Image | null | undefined => {
          const key = documentKey(model, id);
          return local.has(key) ? local.get(key) ?? null : undefined;
        };
        const touched = (model: string): [string, Image | null][] => [...local].filter(([key]) => key.startsWith(`${model}:`)).map(([key, image]) => [key.slice(model.length + 1), image]);
        await checkNotReferenced(info, operation.id as string, `ops.${i}.id`, referrers, this.context.find, mine, touched, connection);
      }
    }
  }
}
