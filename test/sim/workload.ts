/**
 * The seeded workload: transfers between a fixed set of accounts as batches (increments with
 * `min: 0`, plus a transfer record) and as interactive transactions (read both, write absolute
 * values: a lost update shows), keyed repeats (one key, one body, from several instances, at
 * once or one after another), reversals of earlier transfers, creates and destroys of widgets,
 * members with a unique handle drawn from a small pool (creates, renames, destroys: batch or
 * interactive, some keyed; the handles collide often, so R9's reservations and claims are refused
 * and raced), and committed reads (find, count, snapshot, members) beside them.
 *
 * Every call is recorded with who made it, when it ended and what it answered: the checkers judge
 * the records. A call whose process crashed never answers (its caller died with it).
 */
import { TransactError } from '../../lib/core/errors';
import type { TransactionOptions } from '../../lib/core/validation';
import type { Image, Operation } from '../../lib/core/types';
import { isRedo, type SimInstance, type SimWorld } from './cluster';
import { Prng, type SimProcess } from './runtime';

export type OpKind = 'batch' | 'interactive' | 'reverse' | 'widget-create' | 'widget-destroy' | MemberOpKind | 'snapshot' | 'find' | 'count' | 'member-find';

/** The calls on members (model `member`, its `handle` unique). */
export type MemberOpKind = 'member-create' | 'member-rename' | 'member-destroy';

export function isMemberOp(kind: OpKind): kind is MemberOpKind {
  return kind === 'member-create' || kind === 'member-rename' || kind === 'member-destroy';
}

/** The handles members draw from: few, so that creates and renames collide. */
export const HANDLES: readonly string[] = ['ann', 'bob', 'cy', 'dee'];

/**
 * The members there before any instance runs (renames and destroys have someone to pick from the
 * start; half the handles taken), with every attribute, as Waterline stores a record. (A document
 * missing `tag` is another matter: log protocol v2's undo of an update that added the field
 * restores the fields it had but leaves the new one; seed 77 on 'mongo' showed it with such seeds.)
 */
export const INITIAL_MEMBERS: readonly { id: string; handle: string; tag: string }[] = [
  { id: 'member-a', handle: 'ann', tag: 'initial' },
  { id: 'member-b', handle: 'bob', tag: 'initial' },
];

export interface PlannedOp {
  at: number;
  instance: number;
  kind: OpKind;
  from?: string;
  to?: string;
  amount?: number;
  key?: string;
  onCrash?: 'rollback' | 'rollforward';
  widget?: string;
  /** A member call: its member (a create's new id; renames and destroys pick one at run time). */
  member?: string;
  /** A member create's or rename's handle. */
  handle?: string;
  /** What a member create or rename writes as the member's `tag`: this planned call's own name (its keyed callers share it). */
  tag?: string;
  /** A member call: as a batch, or as an interactive transaction. */
  style?: 'batch' | 'interactive';
  /** An interactive member create that reads its id first (held by a stub reserved with no values before the create: R9 must still claim the handle). */
  readFirst?: boolean;
}

export type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string; typed: boolean };

export interface OpRecord {
  id: number;
  plan: PlannedOp;
  process: SimProcess;
  startedAt: number;
  endedAt: number | null;
  outcome: Outcome | null;
  /** For reversals: the transaction reversed. For widget destroys, member renames and destroys: the widget or member. */
  target?: string;
}

export interface WorkloadShape {
  accounts: number;
  transactions: number;
  instances: number;
  /** Starts are spread over this much virtual time. */
  spanMs: number;
}

export const INITIAL_BALANCE = 100;

export function accountIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `acct${i}`);
}

/** The plan, from the workload's own stream: fault settings never shift it. */
export function planWorkload(seed: number, shape: WorkloadShape): PlannedOp[] {
  const prng = Prng.fork(seed, 'workload');
  const accounts = accountIds(shape.accounts);
  const plan: PlannedOp[] = [];
  const pair = (): { from: string; to: string; amount: number } => {
    const from = prng.pick(accounts);
    let to = prng.pick(accounts);
    while (to === from) to = prng.pick(accounts);
    return { from, to, amount: prng.int(1, 60) };
  };
  let widgets = 0;
  let members = 0;
  let tags = 0;
  let keys = 0;
  while (plan.length < shape.transactions) {
    const at = prng.int(0, shape.spanMs);
    const instance = prng.int(0, shape.instances - 1);
    const x = prng.next();
    if (x < 0.22) plan.push({ at, instance, kind: 'batch', ...pair(), ...(prng.chance(0.3) ? { onCrash: 'rollforward' as const } : {}) });
    else if (x < 0.39) plan.push({ at, instance, kind: 'interactive', ...pair() });
    else if (x < 0.55) {
      // One key, one body, two or three callers on different instances: at once, or one after another.
      const kind = prng.chance(0.5) ? 'batch' : 'interactive';
      const body = pair();
      const key = `key-${seed}-${keys++}`;
      const callers = prng.int(2, 3);
      const concurrent = prng.chance(0.5);
      for (let c = 0; c < callers; c++) {
        plan.push({ at: at + (concurrent ? prng.int(0, 20) : c * prng.int(300, 3_000)), instance: (instance + c) % shape.instances, kind, ...body, key });
      }
    } else if (x < 0.63) plan.push({ at, instance, kind: 'reverse' });
    else if (x < 0.68) plan.push({ at, instance, kind: 'widget-create', widget: `widget${widgets++}` });
    else if (x < 0.71) plan.push({ at, instance, kind: 'widget-destroy' });
    else if (x < 0.89) {
      const y = prng.next();
      const kind: MemberOpKind = y < 0.45 ? 'member-create' : y < 0.85 ? 'member-rename' : 'member-destroy';
      const style = prng.chance(0.5) ? 'batch' : 'interactive';
      const body: PlannedOp = {
        at,
        instance,
        kind,
        style,
        ...(kind === 'member-create' && style === 'interactive' && prng.chance(0.5) ? { readFirst: true } : {}),
        ...(kind === 'member-create' ? { member: `member${members++}` } : {}),
        ...(kind === 'member-destroy' ? {} : { handle: prng.pick(HANDLES), tag: `${kind === 'member-create' ? 'create' : 'rename'}-${tags++}` }),
      };
      // Some keyed creates: two callers of one key on different instances, at once or one after
      // another (not renames nor destroys: each caller picks its member at run time, so one key
      // could name two bodies).
      if (kind === 'member-create' && prng.chance(0.25)) {
        const key = `key-${seed}-${keys++}`;
        const concurrent = prng.chance(0.5);
        for (let c = 0; c < 2; c++) plan.push({ ...body, at: at + (concurrent ? prng.int(0, 20) : c * prng.int(300, 3_000)), instance: (instance + c) % shape.instances, key });
      } else plan.push(body);
    } else plan.push({ at, instance, kind: prng.pick(['snapshot', 'find', 'count', 'member-find'] as const) });
  }
  return plan.sort((a, b) => a.at - b.at);
}

function transferOps(from: string, to: string, amount: number): Operation[] {
  return [
    { op: 'increment', model: 'account', id: from, field: 'balance', by: -amount, min: 0 },
    { op: 'increment', model: 'account', id: to, field: 'balance', by: amount },
    { op: 'create', model: 'transfer', values: { from, to, amount } },
  ];
}

export class Workload {
  readonly records: OpRecord[] = [];
  /** Picks made while running (which transfer to reverse, which widget to destroy): a stream of its own. */
  private readonly picks: Prng;

  constructor(private readonly world: SimWorld, seed: number, readonly plan: readonly PlannedOp[]) {
    this.picks = Prng.fork(seed, 'workload-picks');
  }

  /** Schedules every planned call at its time, on its instance (skipped if that instance is down then). */
  schedule(): void {
    const { runtime } = this.world;
    for (const plan of this.plan) {
      runtime.schedule(plan.at, () => {
        const instance = this.world.instances[plan.instance];
        if (!instance.up || instance.process.paused) return;
        this.start(instance, plan);
      }, { process: null, op: null });
    }
  }

  /** Whether every call that can still answer has answered. */
  settled(): boolean {
    return this.records.every((record) => record.outcome !== null || !record.process.alive);
  }

  private start(instance: SimInstance, plan: PlannedOp): void {
    const { runtime, trace } = this.world;
    const record: OpRecord = { id: this.records.length, plan, process: instance.process, startedAt: runtime.now, endedAt: null, outcome: null };
    this.records.push(record);
    const refs = [plan.key ?? '', plan.from === undefined ? '' : `account:${plan.from}`, plan.to === undefined ? '' : `account:${plan.to}`, plan.member === undefined ? '' : `member:${plan.member}`];
    trace.add(runtime.now, instance.process.label, `op ${record.id} ${plan.kind}${plan.key === undefined ? '' : ` key=${plan.key}`}${plan.from === undefined ? '' : ` ${plan.from}->${plan.to} ${plan.amount}`}${plan.member === undefined ? '' : ` ${plan.member}`}${plan.handle === undefined ? '' : ` handle=${plan.handle} tag=${String(plan.tag)}`}`, refs);
    runtime.within({ process: instance.process, op: record.id }, () => {
      this.execute(instance, record).then(
        (value) => {
          record.endedAt = runtime.now;
          record.outcome = { ok: true, value };
          trace.add(runtime.now, instance.process.label, `op ${record.id} ok ${short(value)}`, [...refs, ...idsIn(value)]);
        },
        (err: unknown) => {
          record.endedAt = runtime.now;
          const typed = err instanceof TransactError;
          record.outcome = { ok: false, code: typed ? err.code : String((err as { name?: unknown }).name ?? 'Error'), message: err instanceof Error ? err.message : String(err), typed };
          trace.add(runtime.now, instance.process.label, `op ${record.id} error ${record.outcome.code}: ${record.outcome.message.slice(0, 160)}`, refs);
        },
      );
    });
  }

  private async execute(instance: SimInstance, record: OpRecord): Promise<unknown> {
    const { engine } = instance;
    const { plan } = record;
    const options: TransactionOptions = { ...(plan.key === undefined ? {} : { idempotencyKey: plan.key }), ...(plan.onCrash === undefined ? {} : { onCrash: plan.onCrash }) };
    switch (plan.kind) {
      case 'batch': {
        const result = await engine.batch(transferOps(plan.from as string, plan.to as string, plan.amount as number), options);
        return { id: result.id, steps: result.steps };
      }
      case 'interactive':
        return engine.interactive(async (tx) => {
          const from = await tx.read('account', plan.from as string);
          const to = await tx.read('account', plan.to as string);
          if (from === null || to === null) throw new TransactError('not_found', 'no such account');
          const amount = plan.amount as number;
          if ((from.balance as number) < amount) throw new TransactError('conflict', `insufficient funds in ${plan.from as string}`);
          await tx.update('account', plan.from as string, { balance: (from.balance as number) - amount });
          await tx.update('account', plan.to as string, { balance: (to.balance as number) + amount });
          await tx.create('transfer', { from: plan.from, to: plan.to, amount });
          return { txId: tx.id, from: (from.balance as number) - amount, to: (to.balance as number) + amount };
        }, options);
      case 'reverse': {
        const done = this.records.filter((r) => r.outcome?.ok === true && (r.plan.kind === 'batch' || r.plan.kind === 'interactive'));
        if (done.length === 0) return null;
        const value = this.picks.pick(done).outcome as { ok: true; value: { id?: string; txId?: string } };
        record.target = value.value.id ?? value.value.txId;
        return engine.reverse(record.target as string, { reason: 'simulated reversal' });
      }
      case 'widget-create':
        return (await engine.batch([{ op: 'create', model: 'widget', id: plan.widget, values: { name: plan.widget } }])).id;
      case 'widget-destroy': {
        const created = this.records.filter((r) => r.plan.kind === 'widget-create' && r.outcome?.ok === true).map((r) => r.plan.widget as string);
        if (created.length === 0) return null;
        record.target = this.picks.pick(created);
        return (await engine.batch([{ op: 'destroy', model: 'widget', id: record.target }])).id;
      }
      case 'member-create':
      case 'member-rename':
      case 'member-destroy':
        return this.executeMember(engine, record, options);
      case 'member-find':
        return { members: await engine.reads.find('member', { sort: 'id ASC' }) };
      case 'snapshot': {
        const [accounts, transfers] = await engine.reads.snapshot([{ model: 'account', criteria: { sort: 'id ASC' } }, { model: 'transfer' }]);
        return { accounts, transfers };
      }
      case 'find':
        return { accounts: await engine.reads.find('account', { sort: 'balance DESC' }) };
      case 'count':
        return { count: await engine.reads.count('account') };
    }
  }

  /**
   * A member create (of its planned id), rename or destroy (of an initial member or one some
   * create was started for: picked now, so that the pick follows the run), as a batch or an
   * interactive transaction.
   */
  private async executeMember(engine: SimInstance['engine'], record: OpRecord, options: TransactionOptions): Promise<unknown> {
    const { plan } = record;
    // Log protocol v2 writes a rename or destroy in place before its commit point: the value it
    // gives up is free on the unique index while the transaction may still roll back, and its
    // undo then meets whoever took it (stuck rolling back; or, if it commits, two committed holders
    // for a moment). v2 decides uniqueness on what is stored, not before the commit point (R9 is
    // v3's; docs/guarantees.md): its flavours create members only.
    if (plan.kind !== 'member-create' && !isRedo(this.world.flavour)) return null;
    let id = plan.member;
    if (id === undefined) {
      const started = this.records.filter((r) => r.plan.kind === 'member-create').map((r) => r.plan.member as string);
      id = this.picks.pick([...new Set([...INITIAL_MEMBERS.map((member) => member.id), ...started])]);
    }
    record.target = id;
    this.world.trace.add(this.world.runtime.now, record.process.label, `op ${record.id} on member:${id}`, [`member:${id}`]);
    const values = { handle: plan.handle, tag: plan.tag };
    if (plan.style === 'batch') {
      const operation: Operation = plan.kind === 'member-create' ? { op: 'create', model: 'member', id, values } : plan.kind === 'member-rename' ? { op: 'update', model: 'member', id, set: values } : { op: 'destroy', model: 'member', id };
      const result = await engine.batch([operation], options);
      return { id: result.id, steps: result.steps };
    }
    const member = id;
    return engine.interactive(async (tx) => {
      if (plan.kind === 'member-create') {
        if (plan.readFirst === true && (await tx.read('member', member)) !== null) throw new TransactError('already_exists', `member ${member} exists already`);
        await tx.create('member', values, member);
      } else {
        if ((await tx.read('member', member)) === null) throw new TransactError('not_found', `no member ${member}`);
        if (plan.kind === 'member-rename') await tx.update('member', member, values);
        else await tx.destroy('member', member);
      }
      return { txId: tx.id };
    }, options);
  }
}

/** The transaction ids a result names (for the trace's filter). */
function idsIn(value: unknown): string[] {
  const v = value as { id?: unknown; txId?: unknown } | null;
  return [v?.id, v?.txId].filter((id): id is string => typeof id === 'string');
}

function short(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  const v = value as { id?: unknown; txId?: unknown; steps?: unknown; accounts?: Image[]; count?: unknown };
  if (typeof v.id === 'string' && Array.isArray(v.steps)) return `${v.id} ${JSON.stringify((v.steps as { id: string; before: Image | null; after: Image | null }[]).map((s) => [s.id, s.before?.balance, s.after?.balance]))}`;
  if (typeof v.txId === 'string') return JSON.stringify(value);
  if (Array.isArray(v.accounts)) return `accounts ${JSON.stringify(v.accounts.map((a) => a.balance))}`;
  return JSON.stringify(value).slice(0, 120);
}

