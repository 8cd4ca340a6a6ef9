/** POST /api/user {username, password, role} (admin) → the user, without its password hash. */
const Joi = require('joi');
const { hashPassword } = require('../../lib/auth');
const { ROLES } = require('../../lib/roles');
const { sendError } = require('../../lib/http-errors');
const { validateBody } = require('../../lib/validate');
const { newId } = require('../../lib/ids');

const schema = Joi.object({
  username: Joi.string().pattern(/^[A-Za-z0-9_.@-]+$/).min(3).max(100).required(),
  password: Joi.string().min(12).max(200).required(),
  role: Joi.string().valid(...ROLES).required(),
});

module.exports = async function createUser(req, res) {
  const body = validateBody(req, res, schema);
  if (body === undefined) return;
  if (await sails.models.user.findOne({ username: body.username })) return sendError(res, 'already_exists', `user ${body.username} exists`, 'body.username');
  const user = await sails.models.user.create({ id: newId(), username: body.username, passwordHash: await hashPassword(body.password), role: body.role }).fetch();
  return res.status(201).json(user);
};
