/**
 * The transaction log, newest first, paginated on the server: shared by GET /api/transaction and
 * the admin page's transaction browser. Filters: state, model (transactions that touched a
 * document of that model: the log's `documents` holds `model:id` strings, filtered here in
 * pages, since sails-disk cannot query inside arrays; at most `maxScan` logs are scanned),
 * label (contains), from/to (startedAt, epoch ms), idempotencyKey (exact).
 */
const FIELDS = ['id', 'state', 'mode', 'label', 'idempotencyKey', 'startedAt', 'endedAt', 'documents', 'reverses', 'reversedBy', 'reason', 'error'];
const SCAN_PAGE = 200;

function item(log) {
  const out = {};
  for (const field of FIELDS) out[field] = log[field] === undefined ? null : log[field];
  if (!Array.isArray(out.documents)) out.documents = [];
  return out;
}

function whereOf(query) {
  const where = {};
  if (query.state !== undefined) where.state = query.state;
  if (query.label !== undefined) where.label = { contains: query.label };
  if (query.idempotencyKey !== undefined) where.idempotencyKey = query.idempotencyKey;
  if (query.from !== undefined || query.to !== undefined) {
    where.startedAt = {};
    if (query.from !== undefined) where.startedAt['>='] = query.from;
    if (query.to !== undefined) where.startedAt['<'] = query.to;
  }
  return where;
}

/** {items, limit, skip, scanned?, total?}; `count: true` adds the total (without a model filter). */
async function listTransactions(app, query, { count = false, maxScan = 1_000_000 } = {}) {
  const Log = app.models.transactlog;
  const where = whereOf(query);
  const sort = [{ startedAt: 'DESC' }, { id: 'DESC' }];
  const { limit, skip } = query;
  if (query.model === undefined) {
    const [logs, total] = await Promise.all([Log.find({ where, sort, skip, limit }), count ? Log.count(where) : Promise.resolve(undefined)]);
    return { items: logs.map(item), limit, skip, ...(total === undefined ? {} : { total }) };
  }
  const prefix = `${query.model}:`;
  const matches = [];
  let scanned = 0;
  for (; matches.length < skip + limit && scanned < maxScan; scanned += SCAN_PAGE) {
    const page = await Log.find({ where, sort, skip: scanned, limit: SCAN_PAGE });
    for (const log of page) if (Array.isArray(log.documents) && log.documents.some((key) => typeof key === 'string' && key.startsWith(prefix))) matches.push(log);
    if (page.length < SCAN_PAGE) break;
  }
  return { items: matches.slice(skip, skip + limit).map(item), limit, skip, scanned };
}

module.exports = { listTransactions, FIELDS };
