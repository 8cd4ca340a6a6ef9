#!/usr/bin/env node
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
 * Module: `const sim = await startGatewaySim({secret, port?})` → {url, port, payments, settings,
 * counters, control(settings), take(payment) (registers it with its final status, 'succeeded' by
 * default, and calls back), deliver(paymentId, copies?), close()}. CLI: `node scripts/gateway-sim.js [--port 4100]`
 * (secret from PAYMENT_WEBHOOK_SECRET, or the development secret).
 */
'use strict';
const http = require('node:http');
const { createHmac } = require('node:crypto');

const DEFAULTS = { delayMs: 0, failStatus: 0, loseCallbacks: 0, callbackCopies: 1, statusOverride: {}, statusAmount: {} };

function sign(rawBody, secret) {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      raw += chunk;
      if (raw.length > 1e6) reject(new Error('body too large'));
    });
    req.on('end', () => {
      try {
        resolve(raw === '' ? {} : JSON.parse(raw));
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

function send(res, status, body) {
  const raw = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(raw) });
  res.end(raw);
}

/** Starts the simulator; resolves once it listens on 127.0.0.1. */
function startGatewaySim({ secret, port = 0, host = '127.0.0.1' } = {}) {
  if (typeof secret !== 'string' || secret === '') throw new Error('gateway-sim: a webhook secret is required');
  const payments = new Map();
  let settings = JSON.parse(JSON.stringify(DEFAULTS));
  const counters = { queries: 0, failedQueries: 0, callbacks: 0, callbackErrors: 0, lost: 0 };
  const pending = new Set();

  /** Delivers a signed callback; the answer's status is returned (or the network error). */
  async function deliver(payment) {
    const raw = JSON.stringify({ paymentId: payment.paymentId, status: payment.status, amount: payment.amount });
    if (settings.delayMs > 0) await sleep(settings.delayMs);
    counters.callbacks++;
    try {
      const res = await fetch(payment.callbackUrl, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Signature': sign(raw, secret) }, body: raw, signal: AbortSignal.timeout(10000) });
      await res.arrayBuffer();
      return res.status;
    } catch (err) {
      counters.callbackErrors++;
      return String(err && err.message);
    }
  }

  function take(body) {
    const payment = { paymentId: String(body.paymentId), amount: body.amount, status: body.status || 'succeeded', callbackUrl: body.callbackUrl || null, deliveries: [] };
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
    delivered.finally(() => pending.delete(delivered));
    return { payment, delivered };
  }

  function control(change) {
    if (change.reset) {
      settings = JSON.parse(JSON.stringify(DEFAULTS));
      for (const key of Object.keys(counters)) counters[key] = 0;
    }
    for (const key of Object.keys(DEFAULTS)) {
      if (change[key] === undefined) continue;
      settings[key] = typeof DEFAULTS[key] === 'object' ? { ...settings[key], ...change[key] } : Number(change[key]);
    }
    return settings;
  }

  function statusOf(payment) {
    const status = settings.statusOverride[payment.paymentId] || payment.status;
    const amount = settings.statusAmount[payment.paymentId] !== undefined ? settings.statusAmount[payment.paymentId] : payment.amount;
    return { paymentId: payment.paymentId, status, amount };
  }

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://gateway');
      if (req.method === 'POST' && url.pathname === '/control') return send(res, 200, { settings: control(await readJson(req)), counters });
      if (req.method === 'GET' && url.pathname === '/control') return send(res, 200, { settings, counters });
      if (settings.delayMs > 0) await sleep(settings.delayMs);
      if (req.method === 'POST' && url.pathname === '/payments') {
        const body = await readJson(req);
        if (typeof body.paymentId !== 'string' || !Number.isInteger(body.amount)) return send(res, 400, { error: 'paymentId and amount are required' });
        const { payment } = take({ ...body, status: body.status || 'pending' });
        return send(res, 201, statusOf(payment));
      }
      const paying = /^\/payments\/([^/]+)\/pay$/.exec(url.pathname);
      if (req.method === 'POST' && paying) {
        const known = payments.get(decodeURIComponent(paying[1]));
        if (!known) return send(res, 404, { error: 'unknown payment' });
        const body = await readJson(req);
        const { payment } = take({ ...known, status: body.status || 'succeeded' });
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
      return send(res, 400, { error: String(err && err.message) });
    }
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      const url = `http://${host}:${address.port}`;
      resolve({
        url,
        port: address.port,
        payments,
        counters,
        get settings() {
          return settings;
        },
        control,
        take,
        /** Delivers a payment's callback now (again, or late), `copies` times concurrently. */
        deliver(paymentId, copies = 1, callbackUrl) {
          const payment = payments.get(paymentId);
          if (!payment) throw new Error(`gateway-sim: unknown payment ${paymentId}`);
          if (callbackUrl) payment.callbackUrl = callbackUrl;
          return Promise.all(Array.from({ length: copies }, () => deliver(payment)));
        },
        /** Waits for callbacks in flight, then stops listening. */
        async close() {
          await Promise.allSettled([...pending]);
          await new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
        },
      });
    });
  });
}

module.exports = { startGatewaySim, sign };

if (require.main === module) {
  const i = process.argv.indexOf('--port');
  const port = i === -1 ? 4100 : Number(process.argv[i + 1]);
  const secret = process.env.PAYMENT_WEBHOOK_SECRET || 'development-only-webhook-secret-do-not-use-in-production';
  startGatewaySim({ secret, port }).then((sim) => console.log(`gateway-sim listening on ${sim.url}`));
}
