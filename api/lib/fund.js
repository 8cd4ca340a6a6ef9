/**
 * The fund's money movements: deposits, orders (from cash or through the gateway), payment
 * callbacks and withdrawals. Each movement is ONE engine batch (all or nothing) with its ledger
 * lines (a set per movement, summing to zero; an investor's cash is the sum of its `cash` lines).
 *
 * Pure parts (planning an order over loans, building batches) are exported for unit tests; the
 * service functions take the Sails app explicitly, so the tests can call them without HTTP.
 */
const { createHash } = require('node:crypto');
const Joi = require('joi');
const { newId } = require('./ids');
const gateway = require('./gateway-client');

/** Largest amount accepted, in cents (100 billion): far below Number.MAX_SAFE_INTEGER. */
const MAX_AMOUNT = 1e13;

/** A refusal with an API error code (see http-errors.js); nothing was written. */
class FundError extends Error {
  constructor(code, message, path, details) {
    super(message);
    this.name = 'FundError';
    this.code = code;
    if (path !== undefined) this.path = path;
    if (details !== undefined) this.details = details;
  }
}

// ---------------------------------------------------------------------------------------------
// Request schemas (strict: no conversion, unknown fields rejected by validate.js)

const id = Joi.string().min(1).max(64).pattern(/^[A-Za-z0-9_-]+$/);
const amount = Joi.number().integer().min(1).max(MAX_AMOUNT);
const schemas = {
  deposit: Joi.object({ investor: id.required(), amount: amount.required() }),
  withdrawal: Joi.object({ investor: id.required(), amount: amount.required() }),
  order: Joi.object({
    investor: id.required(),
    amount: amount.required(),
    maxPerLoan: amount.allow(null),
    funding: Joi.string().valid('cash', 'gateway').required(),
  }),
  callback: Joi.object({ paymentId: id.required(), status: Joi.string().valid('succeeded', 'failed').required(), amount: amount.required() }),
  idempotencyKey: Joi.string().min(1).max(200).pattern(/^[\x21-\x7e]+$/),
};

// ---------------------------------------------------------------------------------------------
// Pure planning

/** A 24-hex id derived from a key: repeats of a keyed request name the same documents. */
function derivedId(key, purpose) {
  return createHash('sha256').update(`fund:${purpose}:${key}`).digest('hex').slice(0, 24);
}

/** Room left in a loan, in cents (never negative). */
function roomOf(loan) {
  return Math.max(0, (loan.target || 0) - (loan.raised || 0));
}

/** Open loans with room, interleaved by platform (platforms sorted by id, loans by createdAt, id). */
function roundRobin(loans) {
  const byPlatform = new Map();
  const sorted = loans
    .filter((loan) => loan.status === 'open' && roomOf(loan) > 0)
    .sort((a, b) => (a.createdAt || 0) - (b.createdAt || 0) || String(a.id).localeCompare(String(b.id)));
  for (const loan of sorted) {
    if (!byPlatform.has(loan.platform)) byPlatform.set(loan.platform, []);
    byPlatform.get(loan.platform).push(loan);
  }
  const queues = [...byPlatform.keys()].sort().map((platform) => byPlatform.get(platform));
  const out = [];
  for (let round = 0; out.length < sorted.length; round++) {
    for (const queue of queues) if (round < queue.length) out.push(queue[round]);
  }
  return out;
}

/**
 * Splits `total` over slots with these caps as evenly as the caps allow (water-filling), every
 * slot getting at least 1. Requires caps.length <= total <= sum(caps), caps >= 1.
 */
function waterFill(caps, total) {
  const order = caps.map((cap, i) => i).sort((a, b) => caps[a] - caps[b] || a - b);
  const parts = new Array(caps.length).fill(0);
  let remaining = total;
  let left = caps.length;
  for (const i of order) {
    const share = Math.min(caps[i], Math.ceil(remaining / left));
    parts[i] = share;
    remaining -= share;
    left -= 1;
  }
  if (remaining !== 0 || parts.some((part) => part < 1)) throw new Error(`waterFill: cannot split ${total} over caps ${caps.join(',')}`);
  return parts;
}

/**
 * Plans an order of `amount` cents over `loans`: as many loans as possible (at most `maxLoans`,
 * one cent each at least), platforms interleaved, each part at most `maxPerLoan` and the loan's
 * room, as even as possible. Returns [{loan, platform, amount, room, target}] in round-robin
 * order; throws FundError insufficient_capacity when the loans cannot take the amount.
 */
function planAllocation(loans, amount, maxPerLoan, maxLoans = Infinity) {
  if (!Number.isSafeInteger(amount) || amount < 1) throw new FundError('validation_failed', 'amount must be a positive integer of cents', 'amount');
  const cap = (loan) => (maxPerLoan === undefined || maxPerLoan === null ? roomOf(loan) : Math.min(roomOf(loan), maxPerLoan));
  const candidates = roundRobin(loans);
  const count = Math.min(candidates.length, amount, maxLoans);
  const capacity = candidates.slice(0, Math.min(candidates.length, maxLoans)).reduce((sum, loan) => sum + cap(loan), 0);
  let chosen = candidates.slice(0, count);
  if (chosen.reduce((sum, loan) => sum + cap(loan), 0) < amount) {
    // The first loans of the round-robin are too small: take the largest instead, same order.
    const largest = new Set([...candidates].sort((a, b) => cap(b) - cap(a)).slice(0, count));
    chosen = candidates.filter((loan) => largest.has(loan));
  }
  const total = chosen.reduce((sum, loan) => sum + cap(loan), 0);
  if (count === 0 || total < amount) {
    throw new FundError('insufficient_capacity', `open loans can take ${Math.max(total, 0)} of ${amount} cents${maxPerLoan ? ` at most ${maxPerLoan} per loan` : ''}`, 'amount', {
      capacity: Math.max(total, capacity),
      amount,
    });
  }
  const parts = waterFill(chosen.map(cap), amount);
  return chosen.map((loan, i) => ({ loan: loan.id, platform: loan.platform, amount: parts[i], room: roomOf(loan), target: loan.target }));
}

/** Batch operations with a role per operation (what a bound violation there means). */
class Batch {
  constructor() {
    this.ops = [];
    this.roles = [];
  }
  add(op, role = null) {
    this.ops.push(op);
    this.roles.push(role);
    return this;
  }
  ledger(entry, lines) {
    const sum = lines.reduce((total, line) => total + line.amount, 0);
    if (sum !== 0) throw new Error(`ledger entry ${entry} does not balance (${sum})`);
    for (const line of lines) {
      this.add({ op: 'create', model: 'ledgerentry', values: { entry, investor: null, paymentId: null, order: null, memo: null, ...line } });
    }
    return this;
  }
}

/**
 * Appends the allocation of an order to a batch: cash −amount (min 0), invested +amount, each
 * loan's raised (max its target; status 'funded' when full), the allocations and ledger lines.
 */
function addAllocation(batch, { investor, orderId, amount, parts, entry }) {
  batch.add({ op: 'increment', model: 'investor', id: investor, field: 'cash', by: -amount, min: 0 }, 'funds');
  batch.add({ op: 'increment', model: 'investor', id: investor, field: 'invested', by: amount });
  for (const part of parts) {
    batch.add({ op: 'increment', model: 'loan', id: part.loan, field: 'raised', by: part.amount, max: part.target }, 'capacity');
    if (part.amount === part.room) batch.add({ op: 'update', model: 'loan', id: part.loan, set: { status: 'funded' } });
    batch.add({ op: 'create', model: 'allocation', values: { order: orderId, loan: part.loan, platform: part.platform, amount: part.amount } });
  }
  batch.ledger(entry, [
    { investor, order: orderId, account: 'cash', amount: -amount, memo: `order ${orderId}` },
    { investor, order: orderId, account: 'invested', amount, memo: `order ${orderId}` },
  ]);
  return batch;
}

/** The most loans one order may touch: a batch has at most maxOps operations (3 per loan + 6). */
function maxLoansOf(app) {
  const maxOps = (app.config.transact && app.config.transact.maxOps) || 1000;
  return Math.max(1, Math.floor((maxOps - 8) / 3));
}

// ---------------------------------------------------------------------------------------------
// Running batches and reading their errors

function engineOf(app) {
  return app.hooks.transact.engine;
}

/** What a bound_violation was about: {model, id, field}, from its path or (replayed) its message. */
function boundTarget(err, ops) {
  const match = typeof err.path === 'string' && /^ops\.(\d+)$/.exec(err.path);
  if (match && ops[Number(match[1])]) {
    const op = ops[Number(match[1])];
    return { model: op.model, id: op.id, field: op.field, index: Number(match[1]) };
  }
  if (err.details && typeof err.details.model === 'string') return { model: err.details.model, id: err.details.id, field: err.details.field };
  // A replayed error (idempotency key) keeps only code and message: "<model> <id>: <field> would become …".
  const parsed = /^(\w+) (\S+): (\w+) would become/.exec(String(err.message));
  return parsed ? { model: parsed[1], id: parsed[2], field: parsed[3] } : null;
}

/** The role (funds, capacity, settled) of the operation a bound violation hit, or null. */
function boundRole(err, batch) {
  if (!err || err.code !== 'bound_violation') return null;
  const target = boundTarget(err, batch.ops);
  if (target === null) return null;
  if (target.index !== undefined) return batch.roles[target.index];
  const i = batch.ops.findIndex((op) => op.op === 'increment' && op.model === target.model && op.id === target.id && op.field === target.field);
  return i < 0 ? null : batch.roles[i];
}

/** Turns a bound violation into the fund's own code; other errors pass through. */
function fundErrorOf(err, batch) {
  const role = boundRole(err, batch);
  if (role === 'funds') return new FundError('insufficient_funds', 'the investor has not enough cash', 'body.amount');
  if (role === 'capacity') return new FundError('insufficient_capacity', 'a loan filled up meanwhile: not enough room in open loans', 'body.amount');
  return err;
}

async function runBatch(app, batch, options) {
  try {
    return await engineOf(app).batch(batch.ops, options);
  } catch (err) {
    throw fundErrorOf(err, batch);
  }
}

async function findById(app, model, recordId, path) {
  const record = await app.models[model].findOne({ id: recordId });
  if (!record) throw new FundError('not_found', `${model} ${recordId} does not exist`, path);
  return record;
}

// ---------------------------------------------------------------------------------------------
// Deposits and withdrawals

/** A pending Payment the investor pays at the gateway; credited by its callback. */
async function deposit(app, { investor, amount: cents }) {
  await findById(app, 'investor', investor, 'body.investor');
  const paymentId = `pay_${newId()}`;
  const payment = newId();
  await runBatch(app, new Batch().add({ op: 'create', model: 'payment', id: payment, values: { paymentId, investor, order: null, amount: cents, status: 'pending', anomalies: [], settlements: 0, registeredAt: null } }), { label: 'deposit' });
  await registerPayment(app, await app.models.payment.findOne({ id: payment }));
  return { payment: await app.models.payment.findOne({ id: payment }) };
}

/** Where the gateway calls back: PAYMENT_CALLBACK_URL, else (development) this app on loopback. */
function callbackUrlOf(app, settings) {
  return settings.callbackUrl || `http://127.0.0.1:${app.config.port}/api/payment/callback`;
}

/**
 * Tells the gateway to expect a payment (amount, callback URL) and records when it did
 * (`registeredAt`). The payment is committed first, so a registration that fails — the gateway
 * down, a timeout — loses nothing: the payment stays `pending` with `registeredAt: null`, and the
 * dropped-orders job registers it when the gateway does not know it. Without a gateway URL
 * (development without a gateway) nothing is registered. Returns whether the gateway took it.
 */
async function registerPayment(app, payment, settings = (app.config.custom && app.config.custom.gateway) || {}) {
  if (!settings.url || !payment || payment.status !== 'pending') return false;
  try {
    await gateway.createPayment(settings, { paymentId: payment.paymentId, amount: payment.amount, callbackUrl: callbackUrlOf(app, settings) });
  } catch (err) {
    app.log.warn(`payment ${payment.paymentId} not registered with the gateway (the dropped-orders job retries): ${err && err.message}`);
    return false;
  }
  await app.hooks.transact.engine.interactive(
    async (tx) => {
      const current = await tx.read('payment', payment.id);
      if (current && !current.registeredAt) await tx.update('payment', payment.id, { registeredAt: Date.now() });
    },
    { label: 'payment registered' },
  );
  return true;
}

async function withdraw(app, { investor, amount: cents }) {
  await findById(app, 'investor', investor, 'body.investor');
  const entry = newId();
  const batch = new Batch()
    .add({ op: 'increment', model: 'investor', id: investor, field: 'cash', by: -cents, min: 0 }, 'funds')
    .ledger(entry, [
      { investor, account: 'cash', amount: -cents, memo: 'withdrawal' },
      { investor, account: 'withdrawals', amount: cents, memo: 'withdrawal' },
    ]);
  const result = await runBatch(app, batch, { label: 'withdrawal' });
  return { withdrawal: { entry, investor, amount: cents, transaction: result.id }, investor: await app.models.investor.findOne({ id: investor }) };
}

// ---------------------------------------------------------------------------------------------
// Orders

async function orderView(app, orderId) {
  const order = await app.models.order.findOne({ id: orderId });
  if (!order) return null;
  const allocations = await app.models.allocation.find({ order: orderId });
  allocations.sort((a, b) => String(a.id).localeCompare(String(b.id)));
  const payment = order.paymentId ? await app.models.payment.findOne({ paymentId: order.paymentId }) : null;
  return payment ? { order, allocations, payment } : { order, allocations };
}

async function openLoans(app) {
  return app.models.loan.find({ status: 'open' });
}

/**
 * Plans a cash order against the current investor and loans: the batch that will run, or a
 * FundError (not_found, insufficient_funds, insufficient_capacity). Writes nothing.
 */
async function planCashOrder(app, { investor, amount: cents, maxPerLoan = null, orderId = newId() }) {
  const holder = await findById(app, 'investor', investor, 'body.investor');
  if ((holder.cash || 0) < cents) throw new FundError('insufficient_funds', `the investor has ${holder.cash || 0} cents of cash, the order needs ${cents}`, 'body.amount');
  const parts = planAllocation(await openLoans(app), cents, maxPerLoan, maxLoansOf(app));
  const batch = addAllocation(new Batch(), { investor, orderId, amount: cents, parts, entry: orderId });
  batch.add({ op: 'create', model: 'order', id: orderId, values: { investor, amount: cents, maxPerLoan, funding: 'cash', paymentId: null, status: 'allocated', reason: null } });
  return { orderId, batch, parts };
}

/** Runs a planned order; a loan or the cash changed since planning → insufficient_*, nothing written. */
async function executeOrder(app, plan, options = {}) {
  await runBatch(app, plan.batch, { label: 'order', ...options });
  return orderView(app, plan.orderId);
}

function sameOrder(order, input) {
  return order.investor === input.investor && order.amount === input.amount && order.funding === input.funding && (order.maxPerLoan ?? null) === (input.maxPerLoan ?? null);
}

/**
 * Places an order. With an idempotency key, a repeat returns the first order (or, if the first
 * was refused, is planned again: a refusal writes nothing).
 */
async function placeOrder(app, input, idempotencyKey) {
  const key = idempotencyKey === undefined ? undefined : `order:${idempotencyKey}`;
  const orderId = key === undefined ? newId() : derivedId(key, 'order');
  const replay = async () => {
    const view = await orderView(app, orderId);
    if (view === null) return null;
    if (!sameOrder(view.order, input)) throw new FundError('idempotency_conflict', 'this Idempotency-Key was used for another order', 'headers.idempotency-key');
    return view;
  };
  if (key !== undefined) {
    const previous = await replay();
    if (previous !== null) return previous;
  }
  const options = key === undefined ? {} : { idempotencyKey: key };
  try {
    if (input.funding === 'cash') {
      return await executeOrder(app, await planCashOrder(app, { ...input, orderId }), options);
    }
    await findById(app, 'investor', input.investor, 'body.investor');
    const paymentId = key === undefined ? `pay_${newId()}` : `pay_${derivedId(key, 'paymentId')}`;
    const batch = new Batch()
      .add({ op: 'create', model: 'order', id: orderId, values: { investor: input.investor, amount: input.amount, maxPerLoan: input.maxPerLoan ?? null, funding: 'gateway', paymentId, status: 'awaiting_payment', reason: null } })
      .add({ op: 'create', model: 'payment', id: key === undefined ? newId() : derivedId(key, 'payment'), values: { paymentId, investor: input.investor, order: orderId, amount: input.amount, status: 'pending', anomalies: [], settlements: 0, registeredAt: null } });
    await runBatch(app, batch, { label: 'order', ...options });
    await registerPayment(app, await app.models.payment.findOne({ paymentId }));
    return orderView(app, orderId);
  } catch (err) {
    if (key !== undefined && (err.code === 'idempotency_conflict' || err.code === 'in_progress')) {
      const previous = await replay();
      if (previous !== null) return previous;
    }
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Payment callbacks

const FINAL = ['succeeded', 'failed'];
/** Errors after which another attempt (another key, or none) is safe: the settlement guard holds. */
const RETRYABLE = ['lock_timeout', 'in_progress', 'aborted', 'lease_lost', 'idempotency_conflict'];

/** Constant-time check of the gateway's signature: hex HMAC-SHA256 of the raw body. */
function validSignature(rawBody, signature, secret) {
  const { createHmac, timingSafeEqual } = require('node:crypto');
  if (!Buffer.isBuffer(rawBody) || typeof signature !== 'string' || typeof secret !== 'string' || secret === '') return false;
  if (!/^[0-9a-fA-F]{64}$/.test(signature)) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}

/**
 * A payment and its order as committed: what the gateway is told is never a settlement that may
 * still roll back (a concurrent delivery's batch in flight). The payment is what decides the
 * answer; the order is read committed right after it.
 */
async function paymentView(app, paymentId) {
  const reads = engineOf(app).reads;
  const [[payment = null]] = await reads.snapshot([{ model: 'payment', criteria: { where: { paymentId }, limit: 1 } }]);
  const order = payment && payment.order ? await reads.findOne('order', payment.order) : null;
  return { payment, order };
}

/** The answer to a callback for an already final payment: its state, or 409 for another status. */
function finalAnswer(view, status) {
  if (view.payment.status !== status) {
    throw new FundError('conflict', `payment ${view.payment.paymentId} is already ${view.payment.status}`, 'body.status', { status: view.payment.status });
  }
  return view;
}

/** Appends a mismatching callback to the payment's anomalies (locked read, then update). */
async function recordAnomaly(app, payment, body) {
  await engineOf(app).interactive(
    async (tx) => {
      const current = await tx.read('payment', payment.id);
      const anomalies = Array.isArray(current.anomalies) ? current.anomalies : [];
      const set = { anomalies: [...anomalies, { at: Date.now(), amount: body.amount, status: body.status }] };
      if (!FINAL.includes(current.status)) set.status = 'needs_attention';
      await tx.update('payment', payment.id, set);
    },
    { label: 'payment anomaly' },
  );
}

/**
 * The settlement batch of a payment. `mode`: 'allocate' (a gateway order is allocated in the
 * same batch when the loans have room) or 'paid' (credit only; the order waits as 'paid').
 * Every settlement increments `settlements` with max 1 under the payment's lock: the guard
 * that makes a second settlement (another key, a race) fail with nothing written.
 */
async function settlementBatch(app, payment, order, status, mode) {
  const batch = new Batch().add({ op: 'increment', model: 'payment', id: payment.id, field: 'settlements', by: 1, max: 1 }, 'settled');
  if (status === 'failed') {
    batch.add({ op: 'update', model: 'payment', id: payment.id, set: { status: 'failed' } });
    if (order) batch.add({ op: 'update', model: 'order', id: order.id, set: { status: 'cancelled', reason: 'payment failed' } });
    return batch;
  }
  const { investor, amount: cents, paymentId } = payment;
  batch.add({ op: 'update', model: 'payment', id: payment.id, set: { status: 'succeeded' } });
  batch.add({ op: 'increment', model: 'investor', id: investor, field: 'cash', by: cents });
  batch.ledger(`payment:${paymentId}`, [
    { investor, paymentId, order: order ? order.id : null, account: 'cash', amount: cents, memo: `payment ${paymentId}` },
    { investor, paymentId, order: order ? order.id : null, account: 'gateway', amount: -cents, memo: `payment ${paymentId}` },
  ]);
  if (!order) return batch;
  let parts = null;
  if (mode === 'allocate') {
    try {
      parts = planAllocation(await openLoans(app), order.amount, order.maxPerLoan, maxLoansOf(app));
    } catch (err) {
      if (err.code !== 'insufficient_capacity') throw err;
    }
  }
  if (parts === null) {
    batch.add({ op: 'update', model: 'order', id: order.id, set: { status: 'paid', reason: 'paid; waiting for loan capacity' } });
    return batch;
  }
  addAllocation(batch, { investor, orderId: order.id, amount: order.amount, parts, entry: `order:${order.id}` });
  batch.add({ op: 'update', model: 'order', id: order.id, set: { status: 'allocated', reason: null } });
  return batch;
}

/**
 * Handles a verified callback: {payment, order} (200) when it took effect now or before;
 * FundError not_found, amount_mismatch (recorded), conflict (another final status).
 */
async function handleCallback(app, body) {
  const first = await engineOf(app).reads.findOne('payment', { paymentId: body.paymentId });
  if (!first) throw new FundError('not_found', `payment ${body.paymentId} does not exist`, 'body.paymentId');
  if (body.amount !== first.amount) {
    await recordAnomaly(app, first, body);
    throw new FundError('amount_mismatch', `payment ${body.paymentId} is of ${first.amount} cents, the callback says ${body.amount}`, 'body.amount');
  }
  let mode = 'allocate';
  let lastError = null;
  const keys = [`payment:${body.paymentId}`, `payment:${body.paymentId}:retry`, undefined];
  for (const key of keys) {
    const view = await paymentView(app, body.paymentId);
    if (FINAL.includes(view.payment.status)) return finalAnswer(view, body.status);
    const batch = await settlementBatch(app, view.payment, view.order, body.status, mode);
    try {
      await engineOf(app).batch(batch.ops, { label: `payment ${body.status}`, ...(key === undefined ? {} : { idempotencyKey: key }) });
      return finalAnswer(await paymentView(app, body.paymentId), body.status);
    } catch (err) {
      lastError = err;
      const role = boundRole(err, batch);
      if (role === 'settled') continue; // settled by another delivery: answered from its state
      if (role === 'capacity') {
        mode = 'paid'; // a loan filled up between planning and the batch: credit now, allocate later
        continue;
      }
      if (!RETRYABLE.includes(err.code)) throw fundErrorOf(err, batch);
    }
  }
  const view = await paymentView(app, body.paymentId);
  if (FINAL.includes(view.payment.status)) return finalAnswer(view, body.status);
  throw lastError;
}

// ---------------------------------------------------------------------------------------------
// Paid orders (credited, not allocated): allocated later, once

/**
 * Allocates a gateway order left `paid` (its payment credited, the loans then full): in one
 * interactive transaction that reads the order under its lock and does nothing unless it is
 * still `paid` (the guard: a second allocation, by a race or a repeat, finds it `allocated`),
 * then debits cash, credits invested, raises the loans, creates the allocations and the ledger
 * lines (entry `order:<id>`, as in the settlement) and sets it `allocated`. `attempt` makes the
 * idempotency key (`allocate:<orderId>:<attempt>`): a keyed failure replays, a new attempt needs a
 * new key. Resolves {outcome: 'allocated'|'already_allocated'|'not_paid'|'no_capacity', order, error?}.
 */
async function allocatePaidOrder(app, orderId, attempt = 0) {
  const order = await findById(app, 'order', orderId, 'order');
  if (order.status !== 'paid') return { outcome: order.status === 'allocated' ? 'already_allocated' : 'not_paid', order };
  let parts;
  try {
    parts = planAllocation(await openLoans(app), order.amount, order.maxPerLoan, maxLoansOf(app));
  } catch (err) {
    if (err.code === 'insufficient_capacity') return { outcome: 'no_capacity', order, error: err.message };
    throw err;
  }
  const batch = addAllocation(new Batch(), { investor: order.investor, orderId, amount: order.amount, parts, entry: `order:${orderId}` });
  batch.add({ op: 'update', model: 'order', id: orderId, set: { status: 'allocated', reason: null } });
  let outcome;
  try {
    outcome = await engineOf(app).interactive(
      async (tx) => {
        const current = await tx.read('order', orderId);
        if (!current || current.status !== 'paid') return current && current.status === 'allocated' ? 'already_allocated' : 'not_paid';
        for (const op of batch.ops) await tx.apply(op.op === 'create' && op.id === undefined ? { ...op, id: newId() } : op);
        return 'allocated';
      },
      { label: 'allocate paid order', idempotencyKey: `allocate:${orderId}:${attempt}` },
    );
  } catch (err) {
    const mapped = fundErrorOf(err, batch);
    if (mapped.code === 'insufficient_capacity' || mapped.code === 'insufficient_funds') {
      return { outcome: 'no_capacity', order: await app.models.order.findOne({ id: orderId }), error: mapped.message };
    }
    throw mapped;
  }
  return { outcome, order: await app.models.order.findOne({ id: orderId }) };
}

module.exports = {
  MAX_AMOUNT,
  FundError,
  schemas,
  derivedId,
  roomOf,
  roundRobin,
  waterFill,
  planAllocation,
  Batch,
  addAllocation,
  boundRole,
  fundErrorOf,
  deposit,
  registerPayment,
  withdraw,
  planCashOrder,
  executeOrder,
  placeOrder,
  orderView,
  validSignature,
  handleCallback,
  allocatePaidOrder,
};
