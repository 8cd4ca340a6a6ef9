/**
 * A simulated payment gateway, for tests and local development. Plain node http on 127.0.0.1.
 *
 *   POST /payments {paymentId, amount, callbackUrl, status?}  registers a payment, as the app does
 *        when an order or a deposit is placed: `pending` (the investor has not paid yet) unless
 *        `status` says otherwise ('succeeded', 'failed', 'expired'), in which case it calls
 *        `callbackUrl` back with {paymentId, status, amount} (unless told to lose it), signed:
 *        X-Signature = hex HMAC-SHA256 of the raw JSON body with the webhook secret.
 *   POST /payments/:id/pay {status?}  the investor pays (or fails to): the payment takes the
 *        status ('succeeded' by default) and its callback is delivered.
 *   GET  /payments/:id     {paymentId, status, amount}, 404 when unknown.
 *   POST /control {...}    changes behaviour (all optional, merged into the current settings):
 *        delayMs: n              wait n ms before every answer and before every callback
 *        failStatus: n           answer the next n status queries with 503
 *        loseCallbacks: n        take the next n payments without ever calling back
 *        callbackCopies: n       deliver every callback n times (concurrently)
 *        statusOverride: {id: s} answer the status query of payment id with status s
 *        statusAmount: {id: a}   answer the status query of payment id with amount a
 *        reset: true             back to the defaults, counters to 0 (payments are kept)
 *   GET  /control          the settings, and counters: {queries, failedQueries, callbacks, lost}
 *
 * Module: `const sim = await startGatewaySim({secret, port?})` → a GatewaySim. CLI (after the
 * build): `node dist/scripts/gateway-sim.js [--port 4100]` (secret from PAYMENT_WEBHOOK_SECRET,
 * or the development secret).
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SimSettings {
  delayMs: number;
  failStatus: number;
  loseCallbacks: number;
  callbackCopies: number;
  statusOverride: Record<string, string>;
  statusAmount: Record<string, number>;
}

/** A change of settings (POST /control): any of them, and `reset` first. */
export type SimControl = Partial<SimSettings> & { reset?: boolean };

export interface SimCounters {
  queries: number;
  failedQueries: number;
  callbacks: number;
  callbackErrors: number;
  lost: number;
}

/** A callback's answer: the HTTP status, or the network error's message. */
export type SimDelivery = number | string;

export interface SimPayment {
  paymentId: string;
  amount: number;
  status: string;
  callbackUrl: string | null;
  deliveries: SimDelivery[];
}

/** A payment as registered: its status 'succeeded' unless given. */
export interface SimPaymentInput {
  paymentId: string;
  amount: number;
  status?: string;
  callbackUrl?: string | null;
}

export interface GatewaySimOptions {
  secret: string;
  /** 0 (the default): any free port. */
  port?: number;
  host?: string;
}

export interface GatewaySim {
  url: string;
  port: number;
  payments: Map<string, SimPayment>;
  counters: SimCounters;
  readonly settings: SimSettings;
  control(change: SimControl): SimSettings;
  /** Registers a payment with its final status and calls back (unless pending, without a callback URL, or told to lose it). */
  take(input: SimPaymentInput): { payment: SimPayment; delivered: Promise<SimDelivery[]> };
  /** Delivers a payment's callback now (again, or late), `copies` times concurrently. */
  deliver(paymentId: string, copies?: number, callbackUrl?: string): Promise<SimDelivery[]>;
  /** Waits for callbacks in flight, then stops listening. */
  close(): Promise<void>;
}

const DEV_WEBHOOK_SECRET = 'development-only-webhook-secret-do-not-use-in-production';

function defaultSettings(): SimSettings {
  return { delayMs: 0, failStatus: 0, loseCallbacks: 0, callbackCopies: 1, statusOverride: {}, statusAmount: {} };
}

function zeroCounters(): SimCounters {
  return { queries: 0, failedQueries: 0, callbacks: 0, callbackErrors: 0, lost: 0 };
}

export function sign(rawBody: string, secret: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A JSON object body ({} when empty). */
function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      raw += chunk;
      if (raw.length > 1e6) reject(new Error('body too large'));
    });
    req.on('end', () => {
      try {
        const body: unknown = raw === '' ? {} : JSON.parse(raw);
        if (typeof body !== 'object' || body === null) throw new Error('the body must be a JSON object');
        resolve(body as Record<string, unknown>);
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const raw = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(raw) });
  res.end(raw);
}

/** A string field of a request body, or undefined (absent, empty or not a string). */
function stringField(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Starts the simulator; resolves once it listens on 127.0.0.1. */
export function startGatewaySim({ secret, port = 0, host = '127.0.0.1' }: GatewaySimOptions): Promise<GatewaySim> {
  if (typeof secret !== 'string' || secret === '') throw new Error('gateway-sim: a webhook secret is required');
  const payments = new Map<string, SimPayment>();
  let settings = defaultSettings();
  const counters = zeroCounters();
  const pending = new Set<Promise<SimDelivery[]>>();

  /** Delivers a signed callback; the answer's status is returned (or the network error). */
  async function deliver(payment: SimPayment): Promise<SimDelivery> {
    const raw = JSON.stringify({ paymentId: payment.paymentId, status: payment.status, amount: payment.amount });
    if (settings.delayMs > 0) await sleep(settings.delayMs);
    counters.callbacks++;
    try {
      const res = await fetch(String(payment.callbackUrl), { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Signature': sign(raw, secret) }, body: raw, signal: AbortSignal.timeout(10000) });
      await res.arrayBuffer();
      return res.status;
    } catch (err) {
      counters.callbackErrors++;
      return messageOf(err);
    }
  }

  function take(input: SimPaymentInput): { payment: SimPayment; delivered: Promise<SimDelivery[]> } {
    const payment: SimPayment = { paymentId: String(input.paymentId), amount: input.amount, status: input.status || 'succeeded', callbackUrl: input.callbackUrl || null, deliveries: [] };
    payments.set(payment.paymentId, payment);
    if (payment.status === 'pending' || !payment.callbackUrl) return { payment, delivered: Promise.resolve([]) };
    if (settings.loseCallbacks > 0) {
      settings.loseCallbacks--;
      counters.lost++;
      return { payment, delivered: Promise.resolve([]) };
    }
    const copies = Math.max(1, settings.callbackCopies || 1);
    const delivered = Promise.all(Array.from({ length: copies }, () => deliver(payment))).then((answers) => {
      payment.deliveries.push(...answers);
      return answers;
    });
    pending.add(delivered);
    void delivered.finally(() => pending.delete(delivered));
    return { payment, delivered };
  }

  function control(change: SimControl): SimSettings {
    if (change.reset) {
      settings = defaultSettings();
      Object.assign(counters, zeroCounters());
    }
    for (const key of ['delayMs', 'failStatus', 'loseCallbacks', 'callbackCopies'] as const) {
      if (change[key] !== undefined) settings[key] = Number(change[key]);
    }
    if (change.statusOverride !== undefined) settings.statusOverride = { ...settings.statusOverride, ...change.statusOverride };
    if (change.statusAmount !== undefined) settings.statusAmount = { ...settings.statusAmount, ...change.statusAmount };
    return settings;
  }

  function statusOf(payment: SimPayment): { paymentId: string; status: string; amount: number } {
    const status = settings.statusOverride[payment.paymentId] || payment.status;
    const amount = settings.statusAmount[payment.paymentId] !== undefined ? settings.statusAmount[payment.paymentId] : payment.amount;
    return { paymentId: payment.paymentId, status, amount };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://gateway');
      // The control body is the settings' change as given (numbers are coerced, maps merged).
      if (req.method === 'POST' && url.pathname === '/control') return send(res, 200, { settings: control((await readJson(req)) as SimControl), counters });
      if (req.method === 'GET' && url.pathname === '/control') return send(res, 200, { settings, counters });
      if (settings.delayMs > 0) await sleep(settings.delayMs);
      if (req.method === 'POST' && url.pathname === '/payments') {
        const body = await readJson(req);
        if (typeof body.paymentId !== 'string' || typeof body.amount !== 'number' || !Number.isInteger(body.amount)) return send(res, 400, { error: 'paymentId and amount are required' });
        const { payment } = take({ paymentId: body.paymentId, amount: body.amount, callbackUrl: stringField(body, 'callbackUrl'), status: stringField(body, 'status') || 'pending' });
        return send(res, 201, statusOf(payment));
      }
      const paying = /^\/payments\/([^/]+)\/pay$/.exec(url.pathname);
      if (req.method === 'POST' && paying) {
        const known = payments.get(decodeURIComponent(paying[1]));
        if (!known) return send(res, 404, { error: 'unknown payment' });
        const body = await readJson(req);
        const { payment } = take({ ...known, status: stringField(body, 'status') || 'succeeded' });
        return send(res, 200, statusOf(payment));
      }
      const match = /^\/payments\/([^/]+)$/.exec(url.pathname);
      if (req.method === 'GET' && match) {
        counters.queries++;
        if (settings.failStatus > 0) {
          settings.failStatus--;
          counters.failedQueries++;
          return send(res, 503, { error: 'gateway unavailable (simulated)' });
        }
        const payment = payments.get(decodeURIComponent(match[1]));
        if (!payment) return send(res, 404, { error: 'unknown payment' });
        return send(res, 200, statusOf(payment));
      }
      return send(res, 404, { error: 'not found' });
    } catch (err) {
      return send(res, 400, { error: messageOf(err) });
    }
  }

  const server = createServer((req, res) => void handle(req, res));

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address() as AddressInfo;
      resolve({
        url: `http://${host}:${address.port}`,
        port: address.port,
        payments,
        counters,
        get settings() {
          return settings;
        },
        control,
        take,
        deliver(paymentId, copies = 1, callbackUrl) {
          const payment = payments.get(paymentId);
          if (!payment) throw new Error(`gateway-sim: unknown payment ${paymentId}`);
          if (callbackUrl) payment.callbackUrl = callbackUrl;
          return Promise.all(Array.from({ length: copies }, () => deliver(payment)));
        },
        async close() {
          await Promise.allSettled([...pending]);
          await new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
        },
      });
    });
  });
}

if (require.main === module) {
  const i = process.argv.indexOf('--port');
  const port = i === -1 ? 4100 : Number(process.argv[i + 1]);
  const secret = process.env.PAYMENT_WEBHOOK_SECRET || DEV_WEBHOOK_SECRET;
  void startGatewaySim({ secret, port }).then((sim) => console.log(`gateway-sim listening on ${sim.url}`));
}
