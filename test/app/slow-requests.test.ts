/**
 * Slow clients (issue 19, item 10): a body trickled a byte at a time, a short body under a large
 * Content-Length, headers that never end. Over a real socket to the lifted fund app, configured
 * (TRANSACT_REQUEST_TIMEOUT_MS / TRANSACT_HEADERS_TIMEOUT_MS) with a 1.5 s bound: the server must
 * end each connection. The only timing asserted is "closed before 10× the bound"; Node's defaults
 * (300 s) held them for minutes. No data is involved: one adapter is enough.
 */
import { expect } from 'chai';
import { connect, type Socket } from 'node:net';
import { type FundApp, liftFund, lowerFund } from '../support/http';
import { freshTarget } from '../support/targets';

const BOUND_MS = 1_500;
const GIVE_UP_MS = 10 * BOUND_MS;

/**
 * Opens a connection, sends `head`, then `drip` every 300 ms until the server closes it: whether
 * it did within GIVE_UP_MS, and what it answered.
 */
function holdOpen(port: number, head: string, drip: string | null): Promise<{ closed: boolean; answer: string }> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let answer = '';
    let ticker: NodeJS.Timeout | undefined;
    const finish = (closed: boolean): void => {
      clearInterval(ticker);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ closed, answer });
    };
    const giveUp = setTimeout(() => finish(false), GIVE_UP_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      socket.write(head);
      if (drip !== null) ticker = setInterval(() => socket.writable && socket.write(drip), 300);
    });
  });
}

describe('slow requests end within the configured bound', function () {
  this.timeout(120_000);
  let fund: FundApp;
  let port: number;
  const saved = { request: process.env.TRANSACT_REQUEST_TIMEOUT_MS, headers: process.env.TRANSACT_HEADERS_TIMEOUT_MS };
  before(async function () {
    process.env.TRANSACT_REQUEST_TIMEOUT_MS = String(BOUND_MS);
    process.env.TRANSACT_HEADERS_TIMEOUT_MS = String(BOUND_MS);
    fund = await liftFund(await freshTarget('disk'));
    port = (fund.app as unknown as { config: { port: number } }).config.port;
  });
  after(async function () {
    for (const [name, value] of [['TRANSACT_REQUEST_TIMEOUT_MS', saved.request], ['TRANSACT_HEADERS_TIMEOUT_MS', saved.headers]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await lowerFund(fund);
  });

  const request = (contentType: string, length: number, body: string): string =>
    `POST /api/investor HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${fund.auth('readwrite')}\r\nContent-Type: ${contentType}\r\nContent-Length: ${length}\r\n\r\n${body}`;

  it('ends a body trickled one byte at a time', async function () {
    const { closed } = await holdOpen(port, request('application/json', 10_000, '{"name":"'), 'x');
    expect(closed, `still open after ${GIVE_UP_MS} ms`).to.equal(true);
  });

  it('ends a short JSON body sent under Content-Length: 99999999 (answered 413 and closed)', async function () {
    const { closed, answer } = await holdOpen(port, request('application/json', 99_999_999, '{"name":"x"}'), null);
    expect(closed, `still open after ${GIVE_UP_MS} ms (answered ${answer.split('\r\n')[0]})`).to.equal(true);
    expect(answer).to.match(/^HTTP\/1\.1 413/);
  });

  it('ends a short body of another type under Content-Length: 99999999', async function () {
    const { closed } = await holdOpen(port, request('text/plain', 99_999_999, 'name=x'), null);
    expect(closed, `still open after ${GIVE_UP_MS} ms`).to.equal(true);
  });

  it('ends headers that never finish', async function () {
    const { closed } = await holdOpen(port, 'GET /api/investor HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Slow: 1\r\n');
    expect(closed, `still open after ${GIVE_UP_MS} ms`).to.equal(true);
  });
});
