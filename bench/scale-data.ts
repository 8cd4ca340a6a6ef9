/**
 * A consistent synthetic fund of a chosen size, written with the datastore's own bulk inserts
 * (PostgreSQL: multi-row INSERT … SELECT unnest($1, $2, …), one statement per batch; MongoDB
 * wire: insertMany in batches), for the scale benchmark (bench/scale.ts) and its smoke test.
 *
 * "Consistent" means what the app checks: every investor's cash is the sum of its `cash` ledger
 * lines (and invested of its `invested` lines), every loan's raised the sum of its allocations,
 * every ledger entry sums to zero, each succeeded payment is credited once by one entry, and
 * every money movement has its committed log document shaped like the hook's (lib/core/types.ts
 * LogDocument: steps with before/after images of the real documents, `documents` keys), so the
 * history of any document replays to its stored state. Movements run in time order over the past
 * year, against investor and loan state kept in memory (the only state held: O(investors + loans)).
 *
 * Tables/collections are the ones `npm run migrate` creates (the caller runs it first).
 */
import { createHash } from 'node:crypto';
import { Client } from 'pg';
import type { LogDocument, Step } from '../lib/core/types';
import { LOG_FIELDS } from '../lib/store/contract';
import { keyedTransactionId } from '../lib/core/log-document';
import { prng } from './common';

export type Row = Record<string, unknown>;

export interface FundSize {
  /** Ledger lines to write (at least; movements write 2 or 4). */
  ledger: number;
  /** Committed log documents (see generateFund: extra ones are refused orders, rolled back). */
  logs: number;
  /** Investors; default ledger / 10 (at least 10). */
  investors?: number;
  /** Loans; default ledger / 200 (at least 20), over 8 platforms. */
  loans?: number;
  /** Pending payments reserved for the benchmark's callbacks (paymentId `pay_bench_<i>`). */
  benchPayments?: number;
  seed?: number;
}

export interface FundFixtures {
  /** Pending deposits the benchmark settles by callback: {paymentId, amount}. */
  payments: { paymentId: string; amount: number }[];
  /** Two accounts with a large balance, for transfers. */
  accounts: [string, string];
  /** An investor and a loan with history (the busiest). */
  investor: string;
  loan: string;
  /** A committed transaction id. */
  transaction: string;
}

export interface GenerateReport {
  rows: Record<string, number>;
  ms: number;
  fixtures: FundFixtures;
}

/** Where the rows go: one call per batch of one table. */
export interface BulkWriter {
  insert(table: string, rows: Row[]): Promise<void>;
  close(): Promise<void>;
}

const DAY = 86_400_000;
const BATCH = 2_000;
const PLATFORMS = 8;
/** Every loan's target: large enough that no generated order fills one. */
const LOAN_TARGET = 1e12;

// ---------------------------------------------------------------------------------------------
// Deterministic ids and randomness

/** 24 hex like lib/core/ids newId (seconds of `at`, then a counter): valid on sails-mongo too. */
function idMaker(salt: number): (at: number) => string {
  let counter = 0;
  const prefix = (salt & 0xff).toString(16).padStart(2, '0');
  return (at: number) => Math.floor(at / 1000).toString(16).padStart(8, '0') + prefix + (counter++).toString(16).padStart(14, '0');
}

// ---------------------------------------------------------------------------------------------
// Writers

type PgType = 'text' | 'float8' | 'int8' | 'bool' | 'json';

/** Multi-row INSERTs: one parameter per column (an array), typed from the table's own columns. */
export async function pgWriter(url: string): Promise<BulkWriter> {
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query('SET synchronous_commit = off');
  // Bulk load, then index: every secondary index (the hook's, the app's declared ones) is dropped
  // now and rebuilt from its own definition at close — faster than maintaining them row by row.
  const secondary = (
    await client.query(`SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = 'public'
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`)
  ).rows as { indexname: string; indexdef: string }[];
  for (const index of secondary) await client.query(`DROP INDEX "${index.indexname}"`);
  const types = new Map<string, Map<string, PgType>>();
  const typesOf = async (table: string): Promise<Map<string, PgType>> => {
    const known = types.get(table);
    if (known !== undefined) return known;
    const result = await client.query('SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1', [table]);
    const map = new Map<string, PgType>();
    for (const row of result.rows as { column_name: string; data_type: string }[]) {
      const t = row.data_type;
      map.set(row.column_name, t === 'json' || t === 'jsonb' ? 'json' : t === 'double precision' || t === 'real' ? 'float8' : t === 'bigint' || t === 'integer' ? 'int8' : t === 'boolean' ? 'bool' : 'text');
    }
    if (map.size === 0) throw new Error(`table ${table} does not exist: run the app's migrate first`);
    types.set(table, map);
    return map;
  };
  return {
    async insert(table, rows) {
      if (rows.length === 0) return;
      await typesOf(table); // the table exists (a clear error otherwise)
      const names = Object.keys(rows[0]).map((name) => `"${name}"`).join(', ');
      // One JSON parameter per batch, spread into rows by the server: no per-value escaping in the driver.
      await client.query(`INSERT INTO "${table}" (${names}) SELECT ${names} FROM json_populate_recordset(NULL::"${table}", $1::json)`, [JSON.stringify(rows)]);
    },
    async close() {
      try {
        await client.query('SET maintenance_work_mem = \'256MB\'');
        for (const index of secondary) await client.query(index.indexdef);
      } finally {
        await client.end();
      }
    },
  };
}

/** insertMany in batches; documents keyed by `_id` as sails-mongo stores them. */
export async function mongoWriter(url: string): Promise<BulkWriter> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { MongoClient } = require('mongodb') as typeof import('mongodb');
  const client = new MongoClient(url);
  await client.connect();
  const db = client.db();
  return {
    async insert(table, rows) {
      if (rows.length === 0) return;
      const docs = rows.map((row) => {
        const { id, ...rest } = row;
        return { _id: id as unknown as import('mongodb').ObjectId, ...rest };
      });
      await db.collection(table).insertMany(docs, { ordered: false });
    },
    async close() {
      await client.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The fund

interface InvestorState {
  id: string;
  createdAt: number;
  updatedAt: number;
  name: string;
  cash: number;
  invested: number;
}
interface LoanState {
  id: string;
  createdAt: number;
  updatedAt: number;
  platform: string;
  borrower: string;
  target: number;
  raised: number;
  rateBps: number;
  termMonths: number;
  status: string;
}

/** Buffers rows per table and flushes full batches (bounded memory). */
class Buffers {
  readonly counts: Record<string, number> = {};
  private readonly rows = new Map<string, Row[]>();

  constructor(private readonly writer: BulkWriter) {}

  async add(table: string, row: Row): Promise<void> {
    let list = this.rows.get(table);
    if (list === undefined) this.rows.set(table, (list = []));
    list.push(row);
    this.counts[table] = (this.counts[table] ?? 0) + 1;
    if (list.length >= BATCH) await this.flush(table);
  }

  async flush(table?: string): Promise<void> {
    for (const name of table === undefined ? [...this.rows.keys()] : [table]) {
      const list = this.rows.get(name) ?? [];
      this.rows.set(name, []);
      await this.writer.insert(name, list);
    }
  }
}

/** One transaction being described: its steps, then its log document. */
class LogBuilder {
  readonly steps: Step[] = [];

  create(model: string, after: Row): void {
    this.steps.push({ seq: this.steps.length, kind: 'create', model, id: String(after.id), before: null, after: { ...after } });
  }

  update(model: string, before: Row, after: Row): void {
    this.steps.push({ seq: this.steps.length, kind: 'update', model, id: String(after.id), before: { ...before }, after: { ...after } });
  }

  increment(model: string, before: Row, after: Row, field: string, by: number, bounds: { min?: number; max?: number } = {}): void {
    this.steps.push({ seq: this.steps.length, kind: 'increment', model, id: String(after.id), before: { ...before }, after: { ...after }, delta: { field, by, ...bounds } });
  }

  documents(): string[] {
    return [...new Set(this.steps.map((step) => `${step.model}:${step.id}`))];
  }
}

function logRow(doc: LogDocument): Row {
  const row: Row = {};
  for (const field of LOG_FIELDS) row[field] = doc[field];
  return row;
}

function ledgerLine(id: string, at: number, values: { entry: string; investor: string | null; account: string; amount: number; memo: string | null; paymentId?: string | null; order?: string | null }): Row {
  return { id, createdAt: at, updatedAt: at, entry: values.entry, investor: values.investor, account: values.account, amount: values.amount, memo: values.memo, paymentId: values.paymentId ?? null, order: values.order ?? null };
}

/**
 * Writes a fund of about `size.ledger` ledger lines and exactly `size.logs` log documents.
 * Movements (in time order over the past year): deposits paid at the gateway (payment created,
 * then its callback: 2 logs, 2 lines), cash orders over 1–3 loans (1 log, 2 lines), gateway
 * orders paid and allocated (2 logs, 4 lines), withdrawals (1 log, 2 lines), failed payments
 * (2 logs, no line), pending payments and a few needing attention (1 log). Investors, platforms
 * and loans are created by logs too. When the movements need more logs than `size.logs`, the
 * oldest movements get none (as if made before the log existed: their documents' history starts
 * later; money is unaffected); when they need fewer, the rest are refused orders (rolled back,
 * no steps, `insufficient_funds`), spread over the year.
 */
export async function generateFund(writer: BulkWriter, size: FundSize, now = Date.now()): Promise<GenerateReport> {
  const started = Date.now();
  const random = prng(size.seed ?? 42);
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const newId = idMaker(size.seed ?? 42);
  const out = new Buffers(writer);
  const investorCount = size.investors ?? Math.max(10, Math.ceil(size.ledger / 10));
  const loanCount = size.loans ?? Math.max(20, Math.ceil(size.ledger / 200));
  const benchPayments = size.benchPayments ?? 50;
  const start = now - 365 * DAY;
  const end = now - 3_600_000;

  // Plan the movements first (kinds only), to know how many logs they need.
  const kinds: string[] = [];
  let lines = 0;
  const pickKind = (): string => {
    const r = random();
    if (r < 0.42) return 'deposit';
    if (r < 0.72) return 'cashOrder';
    if (r < 0.82) return 'gatewayOrder';
    if (r < 0.9) return 'withdrawal';
    if (r < 0.95) return 'failed';
    if (r < 0.999) return 'pending';
    return 'attention';
  };
  const linesOf: Record<string, number> = { deposit: 2, cashOrder: 2, gatewayOrder: 4, withdrawal: 2, failed: 0, pending: 0, attention: 0 };
  const logsOf: Record<string, number> = { deposit: 2, cashOrder: 1, gatewayOrder: 2, withdrawal: 1, failed: 2, pending: 1, attention: 1 };
  while (lines < size.ledger) {
    const kind = pickKind();
    kinds.push(kind);
    lines += linesOf[kind];
  }
  const setupLogs = 1 + Math.ceil(loanCount / 100) + investorCount;
  const movementLogs = kinds.reduce((sum, kind) => sum + logsOf[kind], 0);
  let unlogged = Math.max(0, setupLogs + movementLogs - size.logs); // logs the oldest events go without
  const refused = Math.max(0, size.logs - setupLogs - movementLogs);
  let logsWritten = 0;
  const fixtures: FundFixtures = { payments: [], accounts: ['', ''], investor: '', loan: '', transaction: '' };

  const writeLog = async (at: number, label: string, builder: LogBuilder, extra: Partial<LogDocument> = {}): Promise<void> => {
    if (unlogged > 0) {
      unlogged--;
      return;
    }
    const id = extra.idempotencyKey ? keyedTransactionId(extra.idempotencyKey) : newId(at);
    const doc: LogDocument = {
      id, state: 'committed', mode: 'batch', onCrash: 'rollback', label, idempotencyKey: null, idempotencyScope: null, owner: `bench#${id}`, leaseUntil: at + 30_000,
      steps: builder.steps, error: null, startedAt: at, endedAt: at + 4, recoveries: 0, epoch: 0, documents: builder.documents(), result: null,
      fingerprint: extra.idempotencyKey ? createHash('sha256').update(id).digest('hex') : null, reverses: null, reversedBy: null, reason: null, attention: null, ...extra,
    };
    fixtures.transaction = doc.id;
    logsWritten++;
    await out.add('transactlog', logRow(doc));
  };

  // Platforms and loans: one log for the platforms, one per 100 loans.
  let at = start;
  const platforms: string[] = [];
  {
    const log = new LogBuilder();
    for (let i = 0; i < PLATFORMS; i++) {
      const row = { id: newId(at), createdAt: at, updatedAt: at, name: `platform ${i}` };
      platforms.push(String(row.id));
      log.create('platform', row);
      await out.add('platform', row);
    }
    await writeLog(at, 'seed platforms', log);
  }
  const loans: LoanState[] = [];
  for (let i = 0; i < loanCount; i += 100) {
    const log = new LogBuilder();
    for (let j = i; j < Math.min(loanCount, i + 100); j++) {
      const loan: LoanState = { id: newId(at), createdAt: at, updatedAt: at, platform: platforms[j % PLATFORMS], borrower: `borrower ${j}`, target: LOAN_TARGET, raised: 0, rateBps: 500 + (j % 10) * 50, termMonths: 12 + (j % 4) * 12, status: 'open' };
      loans.push(loan);
      log.create('loan', loan as unknown as Row);
    }
    await writeLog(at, 'seed loans', log);
  }
  // Investors join over the first month.
  const investors: InvestorState[] = [];
  for (let i = 0; i < investorCount; i++) {
    const t = start + Math.floor((i * 30 * DAY) / investorCount);
    const investor: InvestorState = { id: newId(t), createdAt: t, updatedAt: t, name: `investor ${i}`, cash: 0, invested: 0 };
    investors.push(investor);
    const log = new LogBuilder();
    log.create('investor', investor as unknown as Row);
    await writeLog(t, 'create investor', log);
  }

  // Movements, in time order from the second month on; refused orders interleaved.
  const movementStart = start + 30 * DAY;
  const touches = new Uint32Array(investors.length);
  const total = kinds.length + refused;
  let refusedLeft = refused;
  let k = 0;
  const snapshot = (row: InvestorState | LoanState): Row => ({ ...row });
  const credit = (investor: InvestorState, t: number, by: number, field: 'cash' | 'invested', log: LogBuilder, bounds: { min?: number } = {}): void => {
    const before = snapshot(investor);
    investor[field] += by;
    investor.updatedAt = t;
    log.increment('investor', before, snapshot(investor), field, by, bounds);
  };
  const allocate = async (log: LogBuilder, t: number, investor: InvestorState, orderId: string, amount: number, entry: string): Promise<void> => {
    credit(investor, t, -amount, 'cash', log, { min: 0 });
    credit(investor, t, amount, 'invested', log);
    const parts = amount >= 3 ? int(1, 3) : 1;
    let left = amount;
    for (let p = 0; p < parts; p++) {
      const share = p === parts - 1 ? left : Math.floor(amount / parts);
      left -= share;
      const loan = loans[int(0, loans.length - 1)];
      const before = snapshot(loan);
      loan.raised += share;
      loan.updatedAt = t;
      log.increment('loan', before, snapshot(loan), 'raised', share, { max: loan.target });
      const allocation = { id: newId(t), createdAt: t, updatedAt: t, order: orderId, loan: loan.id, platform: loan.platform, amount: share };
      log.create('allocation', allocation);
      await out.add('allocation', allocation);
    }
    for (const line of [
      ledgerLine(newId(t), t, { entry, investor: investor.id, order: orderId, account: 'cash', amount: -amount, memo: `order ${orderId}` }),
      ledgerLine(newId(t), t, { entry, investor: investor.id, order: orderId, account: 'invested', amount, memo: `order ${orderId}` }),
    ]) {
      log.create('ledgerentry', line);
      await out.add('ledgerentry', line);
    }
  };
  const orderRow = (t: number, investor: InvestorState, amount: number, funding: string, paymentId: string | null, status: string): Row => ({
    id: newId(t), createdAt: t, updatedAt: t, investor: investor.id, amount, maxPerLoan: null, funding, paymentId, status, reason: null, attempts: null,
  });
  /** A payment created (pending) by one log, then settled by its callback's log. */
  const payment = async (t: number, investor: InvestorState, amount: number, status: string, withOrder: boolean, reason: string | null = null): Promise<Row> => {
    const paymentId = `pay_${newId(t)}`;
    const order = withOrder ? orderRow(t, investor, amount, 'gateway', paymentId, 'awaiting_payment') : null;
    const pending = { id: newId(t), createdAt: t, updatedAt: t, paymentId, investor: investor.id, order: order === null ? null : order.id, amount, status: 'pending', anomalies: [], attempts: null, reason: null, settlements: 0 };
    const created = new LogBuilder();
    if (order !== null) created.create('order', order);
    created.create('payment', pending);
    await writeLog(t, order === null ? 'deposit' : 'order', created);
    if (status === 'pending' || status === 'needs_attention') {
      const row = status === 'pending' ? pending : { ...pending, status, reason };
      if (order !== null) await out.add('order', order);
      await out.add('payment', row);
      return row;
    }
    const settledAt = t + 60_000;
    const settled = { ...pending, updatedAt: settledAt, status, settlements: 1 };
    const callback = new LogBuilder();
    callback.increment('payment', pending, { ...pending, settlements: 1, updatedAt: settledAt }, 'settlements', 1, { max: 1 });
    callback.update('payment', { ...pending, settlements: 1, updatedAt: settledAt }, settled);
    if (status === 'succeeded') {
      credit(investor, settledAt, amount, 'cash', callback);
      const entry = `payment:${paymentId}`;
      for (const line of [
        ledgerLine(newId(settledAt), settledAt, { entry, investor: investor.id, paymentId, order: order === null ? null : String(order.id), account: 'cash', amount, memo: `payment ${paymentId}` }),
        ledgerLine(newId(settledAt), settledAt, { entry, investor: investor.id, paymentId, order: order === null ? null : String(order.id), account: 'gateway', amount: -amount, memo: `payment ${paymentId}` }),
      ]) {
        callback.create('ledgerentry', line);
        await out.add('ledgerentry', line);
      }
      if (order !== null) {
        await allocate(callback, settledAt, investor, String(order.id), amount, `order:${String(order.id)}`);
        const allocated = { ...order, status: 'allocated', updatedAt: settledAt };
        callback.update('order', order, allocated);
        await out.add('order', allocated);
      }
    } else if (order !== null) {
      const cancelled = { ...order, status: 'cancelled', reason: 'payment failed', updatedAt: settledAt };
      callback.update('order', order, cancelled);
      await out.add('order', cancelled);
    }
    await writeLog(settledAt, `payment ${status}`, callback, { idempotencyKey: `payment:${paymentId}` });
    await out.add('payment', settled);
    return settled;
  };
  for (let n = 0; n < total; n++) {
    at = movementStart + Math.floor(((end - movementStart) * n) / Math.max(1, total));
    let kind = kinds[k];
    let pick = int(0, investors.length - 1);
    // Orders and withdrawals need cash: a few more draws before falling back to a deposit.
    for (let tries = 0; (kind === 'cashOrder' || kind === 'withdrawal') && investors[pick].cash < 100 && tries < 8; tries++) pick = int(0, investors.length - 1);
    const investor = investors[pick];
    touches[pick]++;
    if (refusedLeft > 0 && random() < refusedLeft / (total - n)) {
      refusedLeft--;
      const id = newId(at);
      await out.add('transactlog', logRow({
        id, state: 'rolled-back', mode: 'batch', onCrash: 'rollback', label: 'order', idempotencyKey: null, idempotencyScope: null, owner: `bench#${id}`, leaseUntil: at + 30_000, steps: [],
        error: { code: 'bound_violation', message: `investor ${investor.id}: cash would become negative` }, startedAt: at, endedAt: at + 2, recoveries: 0, epoch: 0, documents: [],
        result: null, fingerprint: null, reverses: null, reversedBy: null, reason: null, attention: null,
      }));
      logsWritten++;
      continue;
    }
    k++;
    const amount = int(1_000, 100_000);
    if ((kind === 'cashOrder' || kind === 'withdrawal') && investor.cash < 100) kind = 'deposit';
    switch (kind) {
      case 'deposit':
        await payment(at, investor, amount, 'succeeded', false);
        break;
      case 'failed':
        await payment(at, investor, amount, 'failed', random() < 0.5);
        break;
      case 'pending':
        await payment(at, investor, amount, 'pending', false);
        break;
      case 'attention':
        await payment(at, investor, amount, 'needs_attention', false, 'the gateway does not know this payment');
        break;
      case 'gatewayOrder':
        await payment(at, investor, amount, 'succeeded', true);
        break;
      case 'cashOrder': {
        const cents = Math.max(1, Math.min(investor.cash, Math.floor(investor.cash * (0.2 + random() * 0.8))));
        const log = new LogBuilder();
        const order = orderRow(at, investor, cents, 'cash', null, 'allocated');
        await allocate(log, at, investor, String(order.id), cents, String(order.id));
        log.create('order', order);
        await out.add('order', order);
        await writeLog(at, 'order', log);
        break;
      }
      case 'withdrawal': {
        const cents = Math.max(1, Math.floor(investor.cash / 2));
        const log = new LogBuilder();
        credit(investor, at, -cents, 'cash', log, { min: 0 });
        const entry = newId(at);
        for (const line of [
          ledgerLine(newId(at), at, { entry, investor: investor.id, account: 'cash', amount: -cents, memo: 'withdrawal' }),
          ledgerLine(newId(at), at, { entry, investor: investor.id, account: 'withdrawals', amount: cents, memo: 'withdrawal' }),
        ]) {
          log.create('ledgerentry', line);
          await out.add('ledgerentry', line);
        }
        await writeLog(at, 'withdrawal', log);
        break;
      }
    }
  }

  // The benchmark's own documents: pending deposits to call back, two accounts to transfer between.
  at = end;
  const benchInvestor = investors[0];
  for (let i = 0; i < benchPayments; i++) {
    const amount = 1_000 + i;
    const row = { id: newId(at), createdAt: at, updatedAt: at, paymentId: `pay_bench_${i}`, investor: benchInvestor.id, order: null, amount, status: 'pending', anomalies: [], attempts: null, reason: null, settlements: 0 };
    await out.add('payment', row);
    fixtures.payments.push({ paymentId: String(row.paymentId), amount });
  }
  const accounts = [0, 1].map((i) => ({ id: newId(at), createdAt: at, updatedAt: at, owner: `bench account ${i}`, currency: 'EUR', balance: 1e12, frozen: false, meta: null }));
  const accountLog = new LogBuilder();
  for (const account of accounts) {
    accountLog.create('account', account);
    await out.add('account', account);
    // The money that came into the account, as the fund's reconciliation counts it (an opening line).
    const opening = { id: newId(at), createdAt: at, updatedAt: at, entry: String(account.id), account: String(account.id), kind: 'opening', amount: account.balance, status: 'done' };
    accountLog.create('accountentry', opening);
    await out.add('accountentry', opening);
  }
  fixtures.accounts = [String(accounts[0].id), String(accounts[1].id)];
  unlogged = 0; // this one always: the benchmark reads a transaction and its history even on an empty fund
  await writeLog(at, 'bench accounts', accountLog);

  for (const investor of investors) await out.add('investor', { ...investor });
  for (const loan of loans) await out.add('loan', { ...loan });
  await out.flush();
  const busiest = [...loans].sort((a, b) => b.raised - a.raised)[0];
  fixtures.loan = busiest.id;
  let most = 0;
  for (let i = 1; i < investors.length; i++) if (touches[i] > touches[most]) most = i;
  fixtures.investor = investors[most].id;
  void logsWritten;
  return { rows: { ...out.counts }, ms: Date.now() - started, fixtures };
}
