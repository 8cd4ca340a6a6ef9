/**
 * POST /admin/act/:action (admin, CSRF): retry | resolve, on payments and orders that need
 * attention. Each records who, when and why on the item's attempts. (Reversing and settling
 * transactions are the hook's ops page's actions: /admin/ops.)
 */
const { page } = require('../../lib/admin-page');
const admin = require('../../lib/admin');

const ID = /^[A-Za-z0-9_:-]{1,100}$/;
const KINDS = ['payment', 'order'];

function text(value, name, required) {
  const s = typeof value === 'string' ? value.trim() : '';
  if (required && s === '') throw new admin.AdminError(400, `${name} is required`);
  if (s.length > 400) throw new admin.AdminError(400, `${name} is too long (400 characters at most)`);
  return s;
}

module.exports = page(
  async (req, res, { me, flash }) => {
    const body = req.body || {};
    const id = String(body.id || '');
    if (!ID.test(id)) throw new admin.AdminError(400, 'a valid id is required');
    const back = typeof body.back === 'string' && /^\/admin(\/[A-Za-z0-9_\-/]*)?(\?[^\s]*)?$/.test(body.back) ? body.back : '/admin/attention';
    switch (req.param('action')) {
      case 'retry': {
        if (!KINDS.includes(body.kind)) throw new admin.AdminError(400, 'kind must be payment or order');
        const { outcome } = await admin.retryItem(sails, body.kind, id, me);
        flash(`retried ${body.kind} ${id}: ${outcome}`);
        break;
      }
      case 'resolve': {
        if (!KINDS.includes(body.kind)) throw new admin.AdminError(400, 'kind must be payment or order');
        await admin.resolveItem(sails, body.kind, id, me, text(body.note, 'a note', true));
        flash(`${body.kind} ${id} marked resolved`);
        break;
      }
      default:
        throw new admin.AdminError(404, 'no such action');
    }
    return res.redirect(back);
  },
  { act: true },
);
