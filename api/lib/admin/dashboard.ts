/**
 * The admin dashboard's figures: transactions by state over time, the scheduler's jobs, the
 * counters of this process, and the 30-day volume chart.
 */
import type { JobStatus, TransactionStats, TxState } from 'sails-hook-transact';
import { appState, type FundApp, transactOf } from '../app';
import { countersOf, type DroppedCounters } from '../dropped-orders';

export const HOUR = 60 * 60 * 1000;
export const DAY = 24 * HOUR;
export const STATES: readonly TxState[] = ['pending', 'committed', 'rolling-back', 'rolled-back'];

/** Transactions of one state started in the last hour, day and 30 days. */
export interface CountRow {
  state: TxState;
  hour: number;
  day: number;
  month: number;
}

export interface Counters {
  engine: TransactionStats & { transientRetries: number };
  droppedOrders: DroppedCounters;
}

export interface Bar {
  x: number;
  y: number;
  w: number;
  h: number;
  color: string;
  title: string;
}

/** The chart as SVG geometry (views/admin/dashboard.ejs draws it); totals in cents. */
export interface Chart {
  width: number;
  height: number;
  pad: { left: number; right: number; top: number; bottom: number };
  bars: Bar[];
  legend: { name: string; color: string }[];
  ticks: { y: number; label: string }[];
  labels: { x: number; label: string }[];
  baseline: number;
  totals: { deposits: number; invested: number };
}

export interface Dashboard {
  counts: CountRow[];
  jobs: JobStatus[];
  counters: Counters;
  chart: Chart;
}

async function transactionCounts(app: FundApp): Promise<CountRow[]> {
  const Log = app.models.transactlog;
  const now = Date.now();
  // Bounded by time, each an index range on (state, startedAt): a count of the whole log grows
  // with it (the ops page counts that, capped).
  const since = { hour: now - HOUR, day: now - DAY, month: now - 30 * DAY };
  const rows: CountRow[] = [];
  for (const state of STATES) {
    rows.push({
      state,
      hour: await Log.count({ state, startedAt: { '>=': since.hour } }),
      day: await Log.count({ state, startedAt: { '>=': since.day } }),
      month: await Log.count({ state, startedAt: { '>=': since.month } }),
    });
  }
  return rows;
}

function jobStatus(app: FundApp): JobStatus[] {
  return transactOf(app).scheduler?.status() ?? [];
}

function counters(app: FundApp): Counters {
  return { engine: { ...transactOf(app).stats() }, droppedOrders: { ...countersOf(app) } };
}

/** Platforms the chart draws a series for (the fund works with a handful). */
const CHART_PLATFORMS = 20;
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#edc948', '#76b7b2', '#ff9da7', '#9c755f'];

/**
 * Daily deposit volume and investment volume per platform over the last `days` days, as SVG
 * geometry. Each bar is a sum the database computes (an index range on `createdAt`): the page
 * never loads a month of ledger lines and allocations.
 */
async function volumeChart(app: FundApp, days = 30): Promise<Chart> {
  const reads = transactOf(app).reads();
  const now = Date.now();
  const start = Math.floor((now - (days - 1) * DAY) / DAY) * DAY;
  const ranges = Array.from({ length: days }, (_, d) => ({ '>=': start + d * DAY, '<': start + (d + 1) * DAY }));
  const platforms = await app.models.platform.find({ sort: 'name ASC', limit: CHART_PLATFORMS });
  const [depositByDay, ...perPlatform] = await Promise.all([
    Promise.all(ranges.map(async (createdAt) => -(await reads.aggregateSum('ledgerentry', 'amount', { account: 'gateway', createdAt })))),
    ...platforms.map((p) => Promise.all(ranges.map((createdAt) => reads.aggregateSum('allocation', 'amount', { platform: p.id, createdAt })))),
  ]);
  const names = new Map(platforms.map((p) => [p.id, p.name]));
  const series = new Map<string, number[]>();
  platforms.forEach((p, i) => {
    if (perPlatform[i].some((v) => v > 0)) series.set(p.id, perPlatform[i]);
  });
  const width = 900;
  const height = 260;
  const pad = { left: 70, right: 10, top: 10, bottom: 30 };
  const slot = (width - pad.left - pad.right) / days;
  const investedByDay = depositByDay.map((_, d) => [...series.values()].reduce((s, v) => s + v[d], 0));
  const max = Math.max(1, ...depositByDay, ...investedByDay);
  const y = (v: number): number => pad.top + (height - pad.top - pad.bottom) * (1 - v / max);
  const dayOf = (d: number): string => new Date(start + d * DAY).toISOString().slice(0, 10);
  const bars: Bar[] = [];
  const legend = [{ name: 'deposits', color: '#888' }];
  depositByDay.forEach((v, d) => {
    if (v > 0) bars.push({ x: pad.left + d * slot + 1, y: y(v), w: slot / 2 - 1, h: y(0) - y(v), color: '#888', title: `${dayOf(d)} deposits ${(v / 100).toFixed(2)}` });
  });
  let i = 0;
  const stacks = new Array<number>(days).fill(0);
  for (const [platform, values] of series) {
    const color = PALETTE[i++ % PALETTE.length];
    const name = names.get(platform) || platform;
    legend.push({ name, color });
    values.forEach((v, d) => {
      if (v <= 0) return;
      const top = y(stacks[d] + v);
      bars.push({ x: pad.left + d * slot + slot / 2, y: top, w: slot / 2 - 1, h: y(stacks[d]) - top, color, title: `${dayOf(d)} ${name} ${(v / 100).toFixed(2)}` });
      stacks[d] += v;
    });
  }
  const ticks = [0, 0.5, 1].map((f) => ({ y: y(max * f), label: ((max * f) / 100).toFixed(0) }));
  const labels = [0, Math.floor(days / 2), days - 1].map((d) => ({ x: pad.left + d * slot, label: new Date(start + d * DAY).toISOString().slice(5, 10) }));
  return { width, height, pad, bars, legend, ticks, labels, baseline: y(0), totals: { deposits: depositByDay.reduce((a, b) => a + b, 0), invested: investedByDay.reduce((a, b) => a + b, 0) } };
}

/** How long one computation of the chart is shown: 30 daily bars need not be recomputed per view. */
const CHART_TTL_MS = 60_000;

/**
 * The chart, recomputed at most once a minute per app whatever the number of views: it is some
 * 270 sums (0.2–0.5 s on PostgreSQL at 1M lines, measured by bench:scale), and today's bar may
 * lag by that minute. The counts above it are live.
 */
function cachedChart(app: FundApp): Promise<Chart> {
  const cache = appState<{ at: number; chart: Promise<Chart> | null }>(app, 'chart', () => ({ at: 0, chart: null }));
  if (cache.chart !== null && Date.now() - cache.at < CHART_TTL_MS) return cache.chart;
  const chart = volumeChart(app);
  cache.at = Date.now();
  cache.chart = chart;
  chart.catch(() => {
    if (cache.chart === chart) cache.chart = null;
  });
  return chart;
}

export async function dashboard(app: FundApp): Promise<Dashboard> {
  const [counts, chart] = await Promise.all([transactionCounts(app), cachedChart(app)]);
  return { counts, jobs: jobStatus(app), counters: counters(app), chart };
}
