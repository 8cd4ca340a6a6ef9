/**
 * The simulated database: tables of plain documents, in memory, shared by every simulated
 * instance. Each operation a store or driver sends is applied in one synchronous step (the
 * transport decides when): that is the per-operation atomicity the real stores give, and no more.
 *
 * Observers see every accepted write as it is applied (the checkers' view of the datastore).
 */

export type Doc = Record<string, unknown>;

/** A write the database accepted, as the checkers need it. */
export type DbEvent =
  /** A document of an app model was written by a transaction at this fence (a MongoDB remove: with the fence the removed row carried). */
  | { kind: 'document'; table: string; id: string; action: 'insert' | 'patch' | 'remove'; txId: string; epoch: number; removedFence?: string }
  /** A log document changed (inserted, or updated by a compare-and-set that matched): its state after the change. */
  | { kind: 'log'; id: string; before: Doc | null; after: Doc }
  /** Lock records were inserted or deleted. */
  | { kind: 'locks'; inserted: Doc[]; deleted: Doc[] }
  /** Log protocol v3: a document's record changed (its row with the hidden fields; before null: inserted). */
  | { kind: 'record'; table: string; id: string; before: Doc | null; after: Doc };

export class SimDatabase {
  private readonly tables = new Map<string, Map<string, Doc>>();
  private readonly observers: ((event: DbEvent) => void)[] = [];

  /** The documents of a table, by primary key (created empty on first use). */
  table(name: string): Map<string, Doc> {
    let table = this.tables.get(name);
    if (table === undefined) {
      table = new Map();
      this.tables.set(name, table);
    }
    return table;
  }

  observe(observer: (event: DbEvent) => void): void {
    this.observers.push(observer);
  }

  emit(event: DbEvent): void {
    for (const observer of this.observers) observer(event);
  }
}

/** A deep copy of a stored value: nothing outside the database holds a reference into it. */
export function copy<T>(value: T): T {
  return structuredClone(value);
}

/**
 * How an operation reaches the database: `apply` runs in one step when the transport delivers it.
 * `label` and `refs` (documents, transaction ids) name it in the trace.
 */
export interface Transport {
  call<T>(label: string, refs: readonly string[], apply: () => T): Promise<T>;
  /**
   * One request the server applies as several atomic steps (a multi-document write: MongoDB is
   * atomic per document, not per request): `plan` runs when the request lands, each of its steps
   * then runs as an event of its own (other requests may land between two), and a fault may cut
   * the request after some steps (the caller sees a network error). Without it: `stepwise` below
   * applies the whole plan in one `call`.
   */
  callSteps?<T>(label: string, refs: readonly string[], plan: () => Stepwise<T>): Promise<T>;
}

/** What a multi-step request does once it lands: its steps in order, then its answer (which may throw: a write error). */
export interface Stepwise<T> {
  steps: readonly (() => void)[];
  result: () => T;
}

/** Sends `plan` step by step where the transport can (`callSteps`) and `steps` is asked, else as one step. */
export function stepwise<T>(transport: Transport, steps: boolean, label: string, refs: readonly string[], plan: () => Stepwise<T>): Promise<T> {
  if (steps && transport.callSteps !== undefined) return transport.callSteps(label, refs, plan);
  return transport.call(label, refs, () => {
    const { steps: each, result } = plan();
    for (const step of each) step();
    return result();
  });
}

/** Applies every operation at once (no network): for the contract suite and other direct uses. */
export const directTransport: Transport = {
  async call<T>(_label: string, _refs: readonly string[], apply: () => T): Promise<T> {
    return apply();
  },
};
