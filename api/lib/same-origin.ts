/**
 * Did a browser send this request from another site? Sec-Fetch-Site (every current browser)
 * says so directly and is trusted alone; else an Origin header that names another host. Neither
 * (curl, an old browser), or `Origin: null` (what a browser sends under `Referrer-Policy:
 * no-referrer`, which this app sets, as well as from sandboxed frames), is not judged here: the
 * CSRF token is what refuses a forged request.
 */
import type { FundRequest } from './http';

export function crossSite(req: Pick<FundRequest, 'get' | 'hostname'>): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = req.get('origin');
  if (origin === undefined || origin === 'null') return false;
  let host: string;
  try {
    host = new URL(origin).hostname;
  } catch {
    return true;
  }
  // req.hostname is the forwarded host only when Express trusts the proxy (config/http.js trustProxy).
  return host !== req.hostname;
}
