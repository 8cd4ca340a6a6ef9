/**
 * Did a browser send this request from another site? Sec-Fetch-Site (every current browser) says
 * so directly; else an Origin header that names another host. A request with neither (curl, an
 * old browser) is not called cross-site here: the CSRF token is what refuses it.
 */
function crossSite(req) {
  const site = req.get('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.get('origin');
  if (origin === undefined) return false;
  let host;
  try {
    host = new URL(origin).hostname;
  } catch {
    return true; // "null" (sandboxed frames, some redirects) or garbage
  }
  // req.hostname is the forwarded host only when Express trusts the proxy (config/http.js trustProxy).
  return host !== req.hostname;
}

module.exports = { crossSite };
