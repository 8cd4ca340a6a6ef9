/** GET /admin/assets/:file: the admin page's own static files (no CDN), from assets/admin/. */
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const TYPES = { 'admin.css': 'text/css; charset=utf-8', 'admin.js': 'text/javascript; charset=utf-8' };
const cache = new Map();

module.exports = function asset(req, res) {
  const file = req.param('file');
  if (!Object.prototype.hasOwnProperty.call(TYPES, file)) return res.status(404).type('text/plain').send('not found');
  if (!cache.has(file)) cache.set(file, readFileSync(join(sails.config.appPath, 'assets', 'admin', file)));
  res.set('Cache-Control', 'public, max-age=300');
  return res.type(TYPES[file]).send(cache.get(file));
};
