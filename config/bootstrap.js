/**
 * Runs before the app serves requests: makes sure an administrator exists, and seeds two demo
 * accounts on an empty development database (through the engine, so even the seed is logged).
 */
const { randomBytes } = require('node:crypto');
const { hashPassword } = require('../api/lib/auth');
const { newId } = require('../api/lib/ids');

async function ensureAdmin() {
  if ((await sails.models.user.count({ role: 'admin' })) > 0) return;
  const username = process.env.TRANSACT_ADMIN_USER || 'admin';
  const given = process.env.TRANSACT_ADMIN_PASSWORD;
  const password = given || randomBytes(18).toString('base64url');
  await sails.models.user.create({ id: newId(), username, passwordHash: await hashPassword(password), role: 'admin' });
  if (!given) {
    // Shown once: only its hash is stored.
    sails.log.warn(`created the first administrator "${username}" with the password: ${password}  (set TRANSACT_ADMIN_USER / TRANSACT_ADMIN_PASSWORD to choose them)`);
  }
}

module.exports.bootstrap = async function () {
  await ensureAdmin();
  if (sails.config.environment !== 'development' || (await sails.models.account.count()) > 0) return;
  await sails.transact(
    [
      { op: 'create', model: 'account', id: 'a00000000000000000000001', values: { owner: 'Alice', balance: 100000 } },
      { op: 'create', model: 'account', id: 'a00000000000000000000002', values: { owner: 'Bob', balance: 50000 } },
    ],
    { label: 'demo seed' },
  );
};
