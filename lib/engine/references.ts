/**
 * References between documents: an attribute declared as a Waterline association
 * (`platform: { model: 'platform' }`) names a document of that model. Every transactional write
 * (batches and interactive transactions, on both protocols, so the blueprints and the REST batch
 * too) refuses a reference to a document that does not exist, or is not committed, with
 * `reference_not_found`; and a destroy of a document that is still referenced with `referenced`.
 *
 * The guarantee, and what it costs:
 *  - A reference to a model that can be destroyed (not `financial`) locks the referenced document
 *    for the rest of the transaction and reads it under that lock. A destroy of it locks it too, so
 *    the two are ordered: either the destroy commits first (the reference then finds nothing) or
 *    the referencing write does (the destroy then finds the referencing row). No dangling reference
 *    can commit, whatever the interleaving, on every adapter.
 *  - A reference to a financial model (never destroyed: destroy_forbidden) needs no lock: a
 *    committed document of it exists for good, so one committed read (by primary key) suffices.
 *    On PostgreSQL's native path every referenced document is locked instead (a row lock, inside
 *    the transaction's own connection: a committed read would take a second pooled connection per
 *    transaction, and enough concurrent ones would wait on each other for the pool).
 *  - "Is it referenced" is one read per referencing attribute, `{attribute: id}`, limit a few rows:
 *    it needs an index on each referencing column to stay cheap (declared indexes: see docs/operations.md).
 *    It reads the datastore as it is, uncommitted rows included: a row a pending transaction is
 *    writing also blocks the destroy (refusing is the safe side; the client may retry).
 * A document touched earlier in the same transaction counts as it is there (a batch may create a
 * platform and a loan on it together).
 */
import { TransactError } from '../core/errors';
import type { ModelInfo } from '../core/model-info';
import { documentKey } from '../core/operations';
import type { Image, Operation, Step } from '../core/types';
import type { WaterlineModel } from '../core/waterline';
import type { EngineContext } from './context';

/** One referencing attribute: `model.attribute` names documents of `target`. */
export interface Referrer {
  model: string;
  attribute: string;
}

/** The reference attributes of a model: attribute → the model it names. */
export function referencesOf(info: ModelInfo): [attribute: string, target: string][] {
  const out: [string, string][] = [];
  for (const [name, attribute] of Object.entries(info.attributes)) {
    if (typeof attribute.model === 'string' && name !== info.primaryKey) out.push([name, attribute.model.toLowerCase()]);
  }
  return out;
}

/** Every attribute, of every model, that references `target`. */
export function referrersOf(infos: Iterable<ModelInfo>, target: string): Referrer[] {
  const out: Referrer[] = [];
  for (const info of infos) for (const [attribute, to] of referencesOf(info)) if (to === target) out.push({ model: info.identity, attribute });
  return out;
}

/** The references a write sets (only those it sets: an update that leaves a reference alone is not re-checked). */
export function referencesSet(info: ModelInfo, values: Record<string, unknown>): { attribute: string; target: string; id: string }[] {
  const out: { attribute: string; target: string; id: string }[] = [];
  for (const [attribute, target] of referencesOf(info)) {
    const value = values[attribute];
    if (typeof value === 'string') out.push({ attribute, target, id: value });
  }
  return out;
}

/** Where a transaction finds a referenced document: its own image if it touched it, else locked or committed. */
export type ResolveReference = (target: string, id: string) => Promise<Image | null>;

/** Refuses a write whose references name no document: `reference_not_found` at `path.<attribute>`. */
export async function checkReferences(info: ModelInfo, values: Record<string, unknown>, path: string, resolve: ResolveReference): Promise<void> {
  for (const { attribute, target, id } of referencesSet(info, values)) {
    if ((await resolve(target, id)) === null) {
      throw new TransactError('reference_not_found', `${info.identity}.${attribute} names ${target} ${id}, which does not exist`, { path: `${path}.${attribute}`, details: { model: target, id } });
    }
  }
}

/**
 * Ids of the rows of `referrer.model` whose `referrer.attribute` is `id` (at most `limit`), as
 * stored; on `connection` when the transaction has one (PostgreSQL's native path: a second pooled
 * connection per transaction could exhaust the pool).
 */
export type FindReferencing = (referrer: Referrer, id: string, limit: number, connection?: unknown) => Promise<string[]>;

/**
 * Refuses destroying `info`/`id` while a document references it: `referenced`. `local` is the
 * transaction's own image of a document it touched (null: destroyed), undefined if untouched;
 * `touched` lists the documents the transaction holds of a model (created ones included).
 */
export async function checkNotReferenced(
  info: ModelInfo,
  id: string,
  path: string,
  referrers: readonly Referrer[],
  find: FindReferencing,
  local: (model: string, id: string) => Image | null | undefined,
  touched: (model: string) => Iterable<[string, Image | null]>,
  connection?: unknown,
): Promise<void> {
  for (const referrer of referrers) {
    const blocking = (doc: Image | null): boolean => doc !== null && doc[referrer.attribute] === id;
    // Written by this transaction: as it left them.
    let mine = 0;
    for (const [docId, doc] of touched(referrer.model)) {
      mine++;
      if (blocking(doc)) throw referenced(info, id, path, referrer, docId);
    }
    // One more row than this transaction holds: at least one then is someone else's.
    for (const docId of await find(referrer, id, mine + 1, connection)) {
      const image = local(referrer.model, docId);
      if (image === undefined || blocking(image)) throw referenced(info, id, path, referrer, docId);
    }
  }
}

function referenced(info: ModelInfo, id: string, path: string, referrer: Referrer, by: string): TransactError {
  return new TransactError('referenced', `${info.identity} ${id} is referenced by ${referrer.model} ${by} (${referrer.attribute}): it cannot be destroyed`, {
    path,
    details: { model: referrer.model, id: by, attribute: referrer.attribute },
  });
}

/** What a transaction needs of the engine to check references. */
export interface ReferenceContext {
  /** Whether documents of `model` can be destroyed: a reference to one locks it. */
  destroyable(model: string): boolean;
  /** The committed document, for references to models never destroyed. */
  committed(model: string, id: string): Promise<Image | null>;
  /** The attributes that reference `model`. */
  referrers(model: string): Referrer[];
  find: FindReferencing;
}

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
