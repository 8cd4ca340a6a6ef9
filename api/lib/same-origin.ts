/**
 * Did a browser send this request from another site? Sec-Fetch-Site (every current browser)
 * says so directly and is trusted alone; else an Origin header that names another host. Neither
 * (curl, an old browser), or `Origin: null` (what a browser sends under `Referrer-Policy:
 * no-referrer`, which this app sets, as well as from sandboxed frames), is not judged here: the
 * CSRF token is what refuses a forged request.
 */
import type { FundRequest } from './http';

/** An origin (`scheme://host[:port]`), with a scheme's default port left out; null when it is none. */
function originOf(text: string): string | null {
  try {
    return new URL(text).origin;
  } catch {
    return null;
  }
}

function hostnameOf(host: string): string | undefined {
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * Origins are compared whole (scheme, host and port): another port of the same host is another
 * site's server (a dev server, another app on the machine).
 */
export function crossSite(req: Pick<FundRequest, 'get' | 'hostname' | 'protocol'>): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = req.get('origin');
  if (origin === undefined || origin === 'null') return false;
  const theirs = originOf(origin);
  // Express' hostname and protocol follow X-Forwarded-* only when it trusts the proxy (config/http.js
  // trustProxy): the port comes from the header its hostname came from.
  const direct = req.get('host');
  const forwarded = req.get('x-forwarded-host')?.split(',')[0].trim();
  const host = forwarded !== undefined && direct !== undefined && hostnameOf(direct) !== req.hostname && hostnameOf(forwarded) === req.hostname ? forwarded : direct;
  const ours = host === undefined ? null : originOf(`${req.protocol}://${host}`);
  return theirs === null || ours === null || theirs !== ours;
}
