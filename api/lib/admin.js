/**
 * The admin page's services (api/controllers/admin/*): session login and CSRF, the dashboard's
 * figures, the items that need attention and the actions on them. Every write goes through the
 * engine (or recovery) and records who, when and why.
 */
const { randomBytes, timingSafeEqual } = require('node:crypto');
const { checkLogin, retryAfterSeconds } = require('./auth');
const { atLeast } = require('./roles');
const fund = require('./fund');
const gateway = require('./gateway-client');
const dropped = require('./dropped-orders');
const { stuckTransactions } = require('../hooks/transact');

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const STATES = ['pending', 'committed', 'rolling-back', 'rolled-back'];

class AdminError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ---------------------------------------------------------------------------------------------
// Session and CSRF

/**
 * {id, username, role} of a correct login, null otherwise; throws a 429 AdminError (with
 * `retryAfter` seconds) past the limits — the API's counters (api/lib/auth.js checkLogin).
 */
async function login(app, username, password, ip) {
  if (typeof username !== 'string' || typeof password !== 'string' || username.length === 0 || username.length > 100 || password.length > 200) return null;
  const result = await checkLogin(app, username, password, ip);
  if (result.retryAfterMs !== undefined) {
    const seconds = retryAfterSeconds(result.retryAfterMs);
    throw Object.assign(new AdminError(429, `too many login attempts; retry in ${seconds} s`), { retryAfter: seconds });
  }
  if (!result.user) return null;
  return { id: result.user.id, username: result.user.username, role: result.user.role };
}

function newCsrfToken() {
  return randomBytes(24).toString('base64url');
}

function validCsrf(session, token) {
  if (!session || typeof session.csrf !== 'string' || typeof token !== 'string') return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** What a role may see and do on the page. */
function rightsOf(role) {
  return { act: atLeast(role, 'admin'), reconcile: atLeast(role, 'monitor') || role === 'readonly' };
}

/** The hook's ops page's `actor`: the signed-in admin's username; any other role only looks. */
function opsActor(req) {
  const me = req.session && req.session.me;
  return me && rightsOf(me.role).act ? me.username : null;
}

// ---------------------------------------------------------------------------------------------
// Dashboard

async function transactionCounts(app) {
  const Log = app.models.transactlog;
  const now = Date.now();
  // Bounded by time, each an index range on (state, startedAt): a count of the whole log grows
  // with it (the ops page counts that, capped).
  const windows = { hour: now - HOUR, day: now - DAY, month: now - 30 * DAY };
  const rows = [];
  for (const state of STATES) {
    const row = { state };
    for (const [name, since] of Object.entries(windows)) {
      row[name] = await Log.count({ state, startedAt: { '>=': since } });
    }
    rows.push(row);
  }
  return rows;
}

function jobStatus(app) {
  const scheduler = app.hooks.transact.scheduler;
  return scheduler ? scheduler.status() : [];
}

function counters(app) {
  const engine = app.hooks.transact.engine;
  return { engine: { ...engine.stats }, droppedOrders: { ...dropped.countersOf(app) } };
}

/** Platforms the chart draws a series for (the fund works with a handful). */
const CHART_PLATFORMS = 20;

/**
 * Daily deposit volume and investment volume per platform over the last `days` days, as SVG
 * geometry. Each bar is a sum the database computes (an index range on `createdAt`): the page
 * never loads a month of ledger lines and allocations.
 */
async function volumeChart(app, days = 30) {
  const reads = app.hooks.transact.engine.reads;
  const now = Date.now();
  const start = Math.floor((now - (days - 1) * DAY) / DAY) * DAY;
  const ranges = Array.from({ length: days }, (_, d) => ({ '>=': start + d * DAY, '<': start + (d + 1) * DAY }));
  const platforms = await app.models.platform.find({ sort: 'name ASC', limit: CHART_PLATFORMS });
  const [depositByDay, ...perPlatform] = await Promise.all([
    Promise.all(ranges.map(async (createdAt) => -(await reads.aggregateSum('ledgerentry', 'amount', { account: 'gateway', createdAt })))),
    ...platforms.map((p) => Promise.all(ranges.map((createdAt) => reads.aggregateSum('allocation', 'amount', { platform: p.id, createdAt })))),
  ]);
  const names = new Map(platforms.map((p) => [p.id, p.name]));
  const series = new Map();
  platforms.forEach((p, i) => {
    if (perPlatform[i].some((v) => v > 0)) series.set(p.id, perPlatform[i]);
  });
  const palette = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#edc948', '#76b7b2', '#ff9da7', '#9c755f'];
  const width = 900;
  const height = 260;
  const pad = { left: 70, right: 10, top: 10, bottom: 30 };
  const slot = (width - pad.left - pad.right) / days;
  const investedByDay = depositByDay.map((_, d) => [...series.values()].reduce((s, v) => s + v[d], 0));
  const max = Math.max(1, ...depositByDay, ...investedByDay);
  const y = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - v / max);
  const bars = [];
  const legend = [{ name: 'deposits', color: '#888' }];
  depositByDay.forEach((v, d) => {
    if (v > 0) bars.push({ x: pad.left + d * slot + 1, y: y(v), w: slot / 2 - 1, h: y(0) - y(v), color: '#888', title: `${new Date(start + d * DAY).toISOString().slice(0, 10)} deposits ${(v / 100).toFixed(2)}` });
  });
  let i = 0;
  const stacks = new Array(days).fill(0);
  for (const [platform, values] of series) {
    const color = palette[i++ % palette.length];
    const name = names.get(platform) || platform;
    legend.push({ name, color });
    values.forEach((v, d) => {
      if (v <= 0) return;
      const top = y(stacks[d] + v);
      bars.push({ x: pad.left + d * slot + slot / 2, y: top, w: slot / 2 - 1, h: y(stacks[d]) - top, color, title: `${new Date(start + d * DAY).toISOString().slice(0, 10)} ${name} ${(v / 100).toFixed(2)}` });
      stacks[d] += v;
    });
  }
  const ticks = [0, 0.5, 1].map((f) => ({ y: y(max * f), label: ((max * f) / 100).toFixed(0) }));
  const labels = [0, Math.floor(days / 2), days - 1].map((d) => ({ x: pad.left + d * slot, label: new Date(start + d * DAY).toISOString().slice(5, 10) }));
  return { width, height, pad, bars, legend, ticks, labels, baseline: y(0), totals: { deposits: depositByDay.reduce((a, b) => a + b, 0), invested: investedByDay.reduce((a, b) => a + b, 0) } };
}

/** How long one computation of the chart is shown: 30 daily bars need not be recomputed per view. */
const CHART_TTL_MS = 60_000;
const chartCache = new WeakMap();

/**
 * The chart, recomputed at most once a minute per app whatever the number of views: it is some
 * 270 sums (0.2–0.5 s on PostgreSQL at 1M lines, measured by bench:scale), and today's bar may
 * lag by that minute. The counts above it are live.
 */
function cachedChart(app) {
  const cached = chartCache.get(app);
  if (cached !== undefined && Date.now() - cached.at < CHART_TTL_MS) return cached.chart;
  const chart = volumeChart(app);
  chartCache.set(app, { at: Date.now(), chart });
  chart.catch(() => chartCache.delete(app));
  return chart;
}

async function dashboard(app) {
  const [counts, chart] = await Promise.all([transactionCounts(app), cachedChart(app)]);
  return { counts, jobs: jobStatus(app), counters: counters(app), chart };
}

// ---------------------------------------------------------------------------------------------
// Needs attention

/** Items per list on one page of the attention page. */
const ATTENTION_PAGE = 100;
/** Deeper than this, skip-based pages get slow: the oldest items are the ones to act on. */
const ATTENTION_MAX_SKIP = 100_000;

/** `?skip=` of the attention page: a multiple of its page size, else the first page. */
function attentionSkip(query = {}) {
  const skip = Number(query.skip);
  return Number.isSafeInteger(skip) && skip > 0 && skip <= ATTENTION_MAX_SKIP ? skip - (skip % ATTENTION_PAGE) : 0;
}

/**
 * One page of what needs attention: payments and orders marked needs_attention (oldest first,
 * through the status+createdAt indexes) and transactions stuck past their lease, each at most
 * ATTENTION_PAGE from `skip`; `next` is the next page's skip (null: none).
 */
async function attention(app, skip = 0) {
  const engine = app.hooks.transact.engine;
  const now = Date.now();
  const page = { skip, limit: ATTENTION_PAGE + 1 };
  const [payments, orders, stuck] = await Promise.all([
    app.models.payment.find({ where: { status: 'needs_attention' }, sort: [{ createdAt: 'ASC' }, { id: 'ASC' }], ...page }),
    app.models.order.find({ where: { status: 'needs_attention' }, sort: [{ createdAt: 'ASC' }, { id: 'ASC' }], ...page }),
    stuckTransactions(engine, page),
  ]);
  const more = [payments, orders, stuck.items].some((list) => list.length > ATTENTION_PAGE);
  payments.splice(ATTENTION_PAGE);
  orders.splice(ATTENTION_PAGE);
  stuck.items.splice(ATTENTION_PAGE);
  const itemOf = (kind) => (doc) => ({ kind, id: doc.id, ref: kind === 'payment' ? doc.paymentId : doc.paymentId || null, amount: doc.amount, investor: doc.investor, ageMs: now - doc.createdAt, reason: doc.reason || null, attempts: Array.isArray(doc.attempts) ? doc.attempts.length : 0, lastAttempt: Array.isArray(doc.attempts) && doc.attempts.length ? doc.attempts[doc.attempts.length - 1] : null });
  return {
    items: [...payments.map(itemOf('payment')), ...orders.map(itemOf('order'))],
    stuck: stuck.items.map((log) => ({ id: log.id, state: log.state, label: log.label, ageMs: log.ageMs, leaseUntil: log.leaseUntil, attempts: log.recoveries, reason: log.reason })),
    skip,
    next: more ? skip + ATTENTION_PAGE : null,
  };
}

function stamp(me, why) {
  return `by ${me.username} at ${new Date().toISOString()}${why ? `: ${why}` : ''}`;
}

/** Appends an admin's attempt to a payment's or order's `attempts`, through the engine. */
async function recordAttempt(app, model, id, attempt, set = {}) {
  await app.hooks.transact.engine.interactive(
    async (tx) => {
      const current = await tx.read(model, id);
      if (!current) return;
      const attempts = Array.isArray(current.attempts) ? current.attempts : [];
      await tx.update(model, id, { ...set, attempts: [...attempts, attempt].slice(-50) });
    },
    { label: `admin ${model} ${attempt.outcome} ${attempt.by}`.slice(0, 200) },
  );
}

/**
 * Retry now: the dropped-orders job's work for one payment (or an order's payment), under the
 * job's claim on the item: ask the gateway, then settle through the callback's own idempotent
 * path. Resolves {outcome}.
 */
async function retryItem(app, kind, id, me) {
  const doc = await app.models[kind].findOne({ id });
  if (!doc) throw new AdminError(404, `no ${kind} ${id}`);
  const paymentId = doc.paymentId;
  if (!paymentId) throw new AdminError(409, `${kind} ${id} has no gateway payment to ask about`);
  const payment = kind === 'payment' ? doc : await app.models.payment.findOne({ paymentId });
  if (!payment) throw new AdminError(404, `no payment ${paymentId}`);
  const settings = dropped.settingsOf(app, {});
  if (!settings.url) throw new AdminError(409, 'no payment gateway URL is configured (PAYMENT_GATEWAY_URL)');
  const scheduler = app.hooks.transact.scheduler;
  const ctx = scheduler && typeof scheduler.context === 'function' ? scheduler.context() : null;
  const item = `payment:${paymentId}`;
  if (ctx && !(await ctx.claim(item, settings.claimMs))) throw new AdminError(409, `the dropped-orders job is working on ${item} now; try again in a moment`);
  const attempt = { at: Date.now(), by: me.username, admin: true };
  try {
    let answer;
    try {
      answer = await gateway.getPayment(settings, paymentId);
    } catch (err) {
      await recordAttempt(app, 'payment', payment.id, { ...attempt, outcome: 'gateway_error', error: err.message });
      throw new AdminError(502, `the gateway could not answer: ${err.message}`);
    }
    if (answer.status === 'pending') {
      await recordAttempt(app, 'payment', payment.id, { ...attempt, outcome: 'still_pending', answer: answer.status });
      return { outcome: 'still_pending' };
    }
    const status = answer.status === 'succeeded' ? 'succeeded' : 'failed';
    try {
      await fund.handleCallback(app, { paymentId, status, amount: answer.amount });
    } catch (err) {
      await recordAttempt(app, 'payment', payment.id, { ...attempt, outcome: 'error', answer: answer.status, error: err.message });
      throw new AdminError(409, `the gateway answered ${answer.status}, but it could not be applied: ${err.message}`);
    }
    await recordAttempt(app, 'payment', payment.id, { ...attempt, outcome: status === 'succeeded' ? 'repaired' : 'cancelled', answer: answer.status });
    return { outcome: status === 'succeeded' ? 'repaired' : 'cancelled' };
  } finally {
    if (ctx) await ctx.release(item);
  }
}

/** Mark resolved with a note: the payment becomes failed / the order cancelled, through the engine. */
async function resolveItem(app, kind, id, me, note) {
  const engine = app.hooks.transact.engine;
  const reason = `resolved ${stamp(me, note)}`.slice(0, 500);
  const status = kind === 'payment' ? 'failed' : 'cancelled';
  const done = await engine.interactive(
    async (tx) => {
      const current = await tx.read(kind, id);
      if (!current || current.status !== 'needs_attention') return false;
      const attempts = Array.isArray(current.attempts) ? current.attempts : [];
      await tx.update(kind, id, { status, reason, attempts: [...attempts, { at: Date.now(), by: me.username, admin: true, outcome: 'resolved', note }].slice(-50) });
      return true;
    },
    { label: `admin resolve ${kind} ${stamp(me)}`.slice(0, 200) },
  );
  if (!done) throw new AdminError(409, `${kind} ${id} does not need attention`);
}

module.exports = { AdminError, login, newCsrfToken, validCsrf, rightsOf, opsActor, dashboard, attention, attentionSkip, retryItem, resolveItem, HOUR, DAY, STATES };
