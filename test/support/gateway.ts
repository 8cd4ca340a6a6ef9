/**
 * The simulated payment gateway (scripts/gateway-sim.ts) for the dropped-orders suites, and
 * helpers to point a lifted fund app at it and to place gateway orders through the API.
 */
import { startGatewaySim, type GatewaySim } from '../../scripts/gateway-sim';
import type { LoadedApp } from './app';
import { type FundApp, WEBHOOK_SECRET } from './http';

export * as droppedLib from '../../api/lib/dropped-orders';
import type { ClaimContext, DroppedSummary } from '../../api/lib/dropped-orders';
export type { ClaimContext, DroppedSummary, GatewaySim };

export function startSim(): Promise<GatewaySim> {
  return startGatewaySim({ secret: WEBHOOK_SECRET });
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
