/**
 * The app's client of the payment gateway: plain HTTP (node's fetch), a timeout per call.
 * Settings (config/custom.js, `sails.config.custom.gateway`): {url, timeoutMs}.
 *
 * Errors are GatewayError with `retryable`: a network error, a timeout, a 5xx or a 429 may be
 * retried; a 4xx (404: the gateway does not know the payment) or a malformed answer may not.
 */

export const GATEWAY_STATUSES = ['pending', 'succeeded', 'failed', 'expired'] as const;
export type GatewayStatus = (typeof GATEWAY_STATUSES)[number];

export type GatewayErrorKind = 'gateway_error' | 'gateway_unconfigured' | 'gateway_timeout' | 'gateway_unreachable' | 'gateway_unavailable' | 'gateway_unknown_payment' | 'gateway_bad_answer';

/** What the gateway did wrong (never answered to a client: the fund's answer is `gateway_unavailable`, or an escalation). */
export class GatewayError extends Error {
  readonly retryable: boolean;
  readonly status: number | null;
  readonly kind: GatewayErrorKind;

  constructor(message: string, { retryable, status = null, kind = 'gateway_error' }: { retryable: boolean; status?: number | null; kind?: GatewayErrorKind }) {
    super(message);
    this.name = 'GatewayError';
    this.retryable = retryable;
    this.status = status;
    this.kind = kind;
  }
}

export interface GatewayConnection {
  url: string;
  timeoutMs?: number;
}

export interface GatewayPayment {
  paymentId: string;
  status: GatewayStatus;
  amount: number;
}

function baseUrl(settings: GatewayConnection): string {
  if (typeof settings.url !== 'string' || settings.url === '') throw new GatewayError('no payment gateway URL is configured (PAYMENT_GATEWAY_URL)', { retryable: false, kind: 'gateway_unconfigured' });
  return settings.url.replace(/\/+$/, '');
}

async function call(settings: GatewayConnection, method: string, path: string, body?: unknown): Promise<unknown> {
  const timeoutMs = settings.timeoutMs || 5000;
  let res: Response;
  try {
    res = await fetch(`${baseUrl(settings)}${path}`, {
      method,
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    const name = err instanceof Error ? err.name : '';
    const timedOut = name === 'TimeoutError' || name === 'AbortError';
    const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
    const why = cause ? (cause.code ?? cause.message) : err instanceof Error ? err.message : String(err);
    throw new GatewayError(timedOut ? `gateway timed out after ${timeoutMs} ms` : `gateway unreachable: ${why}`, { retryable: true, kind: timedOut ? 'gateway_timeout' : 'gateway_unreachable' });
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw new GatewayError(`gateway answer cut off: ${err instanceof Error ? err.message : String(err)}`, { retryable: true, status: res.status });
  }
  if (res.status >= 500 || res.status === 429) throw new GatewayError(`gateway answered ${res.status}`, { retryable: true, status: res.status, kind: 'gateway_unavailable' });
  if (res.status === 404) throw new GatewayError('the gateway does not know this payment', { retryable: false, status: 404, kind: 'gateway_unknown_payment' });
  if (res.status >= 400) throw new GatewayError(`gateway refused the request (${res.status})`, { retryable: false, status: res.status });
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GatewayError('gateway answered with invalid JSON', { retryable: false, status: res.status, kind: 'gateway_bad_answer' });
  }
}

/** GET /payments/:id → {paymentId, status: pending|succeeded|failed|expired, amount}. */
export async function getPayment(settings: GatewayConnection, paymentId: string): Promise<GatewayPayment> {
  const answer = (await call(settings, 'GET', `/payments/${encodeURIComponent(paymentId)}`)) as Partial<GatewayPayment> | null;
  if (!answer || answer.paymentId !== paymentId || !(GATEWAY_STATUSES as readonly unknown[]).includes(answer.status) || !Number.isInteger(answer.amount)) {
    throw new GatewayError(`gateway answered an unexpected body for ${paymentId}`, { retryable: false, kind: 'gateway_bad_answer' });
  }
  return { paymentId, status: answer.status as GatewayStatus, amount: answer.amount as number };
}

/** POST /payments {paymentId, amount, callbackUrl}: asks the gateway to take a payment. */
export async function createPayment(settings: GatewayConnection, payment: { paymentId: string; amount: number; callbackUrl: string }): Promise<void> {
  await call(settings, 'POST', '/payments', payment);
}
