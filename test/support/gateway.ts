/**
 * The simulated payment gateway (scripts/gateway-sim.js) for the dropped-orders suites, and
 * helpers to point a lifted fund app at it and to place gateway orders through the API.
 */
import { join } from 'node:path';
import type { LoadedApp } from './app';
import { type FundApp, WEBHOOK_SECRET } from './http';

export interface SimPayment {
  paymentId: string;
  amount: number;
  status: string;
  callbackUrl: string | null;
  deliveries: unknown[];
}
export interface SimSettings {
  delayMs?: number;
  failStatus?: number;
  loseCallbacks?: number;
  callbackCopies?: number;
  statusOverride?: Record<string, string>;
  statusAmount?: Record<string, number>;
  reset?: boolean;
}
export interface GatewaySim {
  url: string;
  port: number;
  payments: Map<string, SimPayment>;
  counters: { queries: number; failedQueries: number; callbacks: number; callbackErrors: number; lost: number };
  control(settings: SimSettings): SimSettings;
  take(payment: { paymentId: string; amount: number; callbackUrl?: string; status?: string }): { payment: SimPayment; delivered: Promise<unknown[]> };
  deliver(paymentId: string, copies?: number, callbackUrl?: string): Promise<unknown[]>;
  close(): Promise<void>;
}

// dist/test/support → the repository's scripts/ and api/lib/
const ROOT = join(__dirname, '..', '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const simModule = require(join(ROOT, 'scripts', 'gateway-sim')) as { startGatewaySim(options: { secret: string; port?: number }): Promise<GatewaySim> };

export * as droppedLib from '../../api/lib/dropped-orders';
import type { ClaimContext, DroppedSummary } from '../../api/lib/dropped-orders';
export type { ClaimContext, DroppedSummary };

export function startSim(): Promise<GatewaySim> {
  return simModule.startGatewaySim({ secret: WEBHOOK_SECRET });
}

/** Fast settings for tests: every pending item is dropped at once, short backoff and timeout. */
export const FAST = { droppedAfterMs: 0, pendingMaxAgeMs: 3_600_000, attempts: 3, minBackoffMs: 5, maxBackoffMs: 20, timeoutMs: 2000, claimMs: 30000 };

/** Points the app's dropped-orders job at the simulator (the job reads `config.custom.gateway` at each run). */
export function useGateway(app: LoadedApp, sim: GatewaySim, settings: Record<string, unknown> = {}): void {
  const config = (app as unknown as { config: { custom: { gateway: Record<string, unknown> } } }).config;
  config.custom.gateway = { ...config.custom.gateway, ...FAST, url: sim.url, ...settings };
}

export function callbackUrl(app: LoadedApp): string {
  return `http://127.0.0.1:${String((app as unknown as { config: { port: number } }).config.port)}/api/payment/callback`;
}

export function scheduler(app: LoadedApp): { runNow(name: string): Promise<unknown>; status(): { name: string; runs: number; lastError: string | null }[] } {
  const found = app.hooks.transact.scheduler;
  if (found === undefined) throw new Error('the transact hook has no scheduler');
  return found;
}

/** Runs the job through the app's scheduler, as its timer would. */
export async function runJob(app: LoadedApp): Promise<DroppedSummary> {
  return (await scheduler(app).runNow('dropped-orders')) as DroppedSummary;
}

/** A job context on the app's own scheduler (its leases): for runs outside the scheduler. */
export function contextOf(app: LoadedApp): ClaimContext {
  return (scheduler(app) as unknown as { context(): ClaimContext }).context();
}

export interface PlacedOrder {
  orderId: string;
  paymentId: string;
  amount: number;
  delivered: Promise<unknown[]>;
}

/** Places a gateway order through the API (the app registers its payment at the simulator), then pays it there (the simulator calls back unless told not to). */
export async function gatewayOrder(fund: FundApp, sim: GatewaySim, investor: string, amount: number, status = 'succeeded'): Promise<PlacedOrder> {
  const res = await fund.http().post('/api/order').set('Authorization', fund.auth('readwrite')).send({ investor, amount, funding: 'gateway' }).expect(201);
  const paymentId = res.body.payment.paymentId as string;
  const { delivered } = sim.take({ paymentId, amount, callbackUrl: callbackUrl(fund.app), status });
  return { orderId: res.body.order.id as string, paymentId, amount, delivered };
}
