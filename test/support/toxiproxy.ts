/**
 * A tiny client for Toxiproxy's HTTP API (server v2.5.0, started by scripts/toxiproxy.sh), so a
 * test can put a TCP proxy between one process and its database and then slow, stall or cut
 * that process's traffic alone — something no in-process fake (see flaky.ts) can do, since
 * the driver's own timeouts, pools and reconnects are what is under test.
 *
 * Semantics worth knowing before choosing a toxic (read from the v2.5.0 source):
 * - `latency`: each chunk is held until `latency` ms after Toxiproxy *read* it, then passed on,
 *   in order; nothing is dropped. Removing the toxic releases every held chunk at once, in
 *   order, without the rest of its delay. A toxic added to a live connection applies to it too.
 * - `timeout`: data is *dropped*, not held (the README's "delayed until removed" is wrong for
 *   this version), the connection is closed after `timeout` ms (never, if 0), and removing the
 *   toxic closes every connection it was on.
 *
 * Only loopback upstreams are accepted: this harness is for local servers alone.
 */

/** A proxy as the API reports it. `listen` is the real `host:port`, even when asked for port 0. */
export interface ToxiProxy {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
}

/** Which way the toxic acts: `upstream` is client → server, `downstream` is server → client. */
export type ToxicStream = 'upstream' | 'downstream';

/** The attributes each built-in toxic of v2.5.0 takes (times in ms unless noted). */
export interface ToxicAttributes {
  latency: { latency: number; jitter?: number };
  timeout: { timeout: number };
  bandwidth: { rate: number /* KB/s */ };
  slow_close: { delay: number };
  reset_peer: { timeout: number };
  slicer: { average_size: number; size_variation?: number; delay?: number /* µs */ };
  limit_data: { bytes: number };
}

export type ToxicType = keyof ToxicAttributes;

/**
 * What to add. Typed per toxic so a misspelt attribute fails to compile rather than being
 * silently ignored by the server (which decodes unknown JSON fields without complaint).
 */
export type ToxicSpec = {
  [T in ToxicType]: {
    type: T;
    stream: ToxicStream;
    /** Defaults on the server to `<type>_<stream>`; give one to stack two of a type. */
    name?: string;
    /** Probability (0..1) that a connection gets the toxic; the server's default is 1. */
    toxicity?: number;
    attributes: ToxicAttributes[T];
  };
}[ToxicType];

/** A toxic as the API reports it (the server fills in the name and default attributes). */
export interface Toxic {
  name: string;
  type: ToxicType;
  stream: ToxicStream;
  toxicity: number;
  attributes: Record<string, number>;
}

/** Where the API is, from TOXIPROXY_URL (set by scripts/test-env.sh); undefined when unset. */
export function toxiproxyUrl(): string | undefined {
  const url = process.env.TOXIPROXY_URL;
  return url === undefined || url === '' ? undefined : url.replace(/\/+$/, '');
}

/**
 * Per request. The server itself gives up after 25 s, but removing a toxic can block while it
 * flushes held data to a peer that is not reading (up to 5 s a chunk): fail a test, not hang it.
 */
const REQUEST_TIMEOUT_MS = 15_000;

async function request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  const base = toxiproxyUrl();
  if (base === undefined) throw new Error('TOXIPROXY_URL is not set (see scripts/toxiproxy.sh)');
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new Error(`toxiproxy ${method} ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const text = await response.text();
  if (!response.ok) throw new Error(`toxiproxy ${method} ${path}: HTTP ${response.status} ${text.trim()}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Checks the fields we rely on, so a changed server version fails here and not later, oddly. */
function asProxy(value: unknown): ToxiProxy {
  if (
    !isRecord(value) ||
    typeof value.name !== 'string' ||
    typeof value.listen !== 'string' ||
    typeof value.upstream !== 'string' ||
    typeof value.enabled !== 'boolean'
  ) {
    throw new Error(`toxiproxy: unexpected proxy ${JSON.stringify(value)}`);
  }
  return { name: value.name, listen: value.listen, upstream: value.upstream, enabled: value.enabled };
}

function asToxic(value: unknown): Toxic {
  if (!isRecord(value) || typeof value.name !== 'string' || typeof value.type !== 'string' || !isRecord(value.attributes)) {
    throw new Error(`toxiproxy: unexpected toxic ${JSON.stringify(value)}`);
  }
  return value as unknown as Toxic;
}

/** Splits `host:port` / `[v6]:port`, which is how Toxiproxy writes addresses. */
function splitHostPort(address: string): { host: string; port: string } {
  const at = address.lastIndexOf(':');
  if (at <= 0) throw new Error(`toxiproxy: expected host:port, got ${JSON.stringify(address)}`);
  return { host: address.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: address.slice(at + 1) };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Creates proxy `name` to `upstream` ('host:port', loopback only), listening on a port the
 * kernel picks on 127.0.0.1: asking for port 0 avoids the race of probing for a free port
 * and handing it over, and v2.5.0 answers with the port it got.
 */
export async function createProxy(name: string, upstream: string): Promise<ToxiProxy> {
  const { host } = splitHostPort(upstream);
  if (!isLoopback(host)) throw new Error(`toxiproxy: upstream ${upstream} is not a loopback address`);
  const proxy = asProxy(await request('POST', '/proxies', { name, upstream, listen: '127.0.0.1:0', enabled: true }));
  if (proxy.listen.endsWith(':0')) throw new Error(`toxiproxy: server did not report the port it picked (${proxy.listen})`);
  return proxy;
}

/** Adds a toxic to every connection of the proxy, live ones included; returns it as the server has it. */
export async function addToxic(proxy: Pick<ToxiProxy, 'name'>, toxic: ToxicSpec): Promise<Toxic> {
  return asToxic(await request('POST', `/proxies/${encodeURIComponent(proxy.name)}/toxics`, toxic));
}

/**
 * Removes a toxic by name (by default the server names it `<type>_<stream>`). Data a latency
 * toxic still holds is passed on at once, in order; a timeout toxic's connections are closed.
 */
export async function removeToxic(proxy: Pick<ToxiProxy, 'name'>, toxic: string | Pick<Toxic, 'name'>): Promise<void> {
  const name = typeof toxic === 'string' ? toxic : toxic.name;
  await request('DELETE', `/proxies/${encodeURIComponent(proxy.name)}/toxics/${encodeURIComponent(name)}`);
}

/**
 * Takes the proxy down (closing the listener and every connection through it: the database
 * "goes away") or brings it back on the same port, with its toxics kept.
 */
export async function setEnabled(proxy: Pick<ToxiProxy, 'name'>, enabled: boolean): Promise<ToxiProxy> {
  return asProxy(await request('POST', `/proxies/${encodeURIComponent(proxy.name)}`, { enabled }));
}

/** Deletes the proxy, closing its connections; the server is shared, so tests clean up after themselves. */
export async function deleteProxy(proxy: Pick<ToxiProxy, 'name'>): Promise<void> {
  await request('DELETE', `/proxies/${encodeURIComponent(proxy.name)}`);
}

/**
 * `url` (postgres://, postgresql:// or mongodb://) with its host:port replaced by the proxy's,
 * credentials, database and options kept. Only single-host URLs: a driver given several hosts
 * (or mongodb+srv) would find ways round the proxy. A MongoDB client should also connect
 * directly (directConnection=true, FerretDB is standalone anyway) so it never swaps the
 * proxy's address for one the server advertises.
 */
export function proxiedUrl(url: string, proxy: Pick<ToxiProxy, 'listen'>): string {
  const parsed = new URL(url);
  if (!['postgres:', 'postgresql:', 'mongodb:'].includes(parsed.protocol)) {
    throw new Error(`proxiedUrl: unsupported scheme ${parsed.protocol} (postgres:// or mongodb:// only)`);
  }
  if (parsed.host === '' || parsed.host.includes(',')) {
    throw new Error(`proxiedUrl: ${parsed.protocol}// URL must name exactly one host`);
  }
  const { host, port } = splitHostPort(proxy.listen);
  parsed.hostname = host.includes(':') ? `[${host}]` : host;
  parsed.port = port;
  return parsed.toString();
}
