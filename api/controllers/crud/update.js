/**
 * PATCH (or PUT) /api/:model/:id (readwrite) → 200 the updated record. Only attributes in the
 * model's `http.update` allowlist, strictly typed; written through the engine. 404 if the
 * document does not exist. The transaction id is in the `X-Transaction-Id` header.
 */
const { writableModel, valuesSchema, validId, sendBlueprintError } = require('../../lib/crud');
const { validateBody } = require('../../lib/validate');

module.exports = async function update(req, res) {
  const model = writableModel(req, res, 'update');
  if (model === undefined) return;
  const id = validId(req, res);
  if (id === undefined) return;
  const set = validateBody(req, res, valuesSchema(model.identity, 'update'));
  if (set === undefined) return;
  let result;
  try {
    result = await sails.transact([{ op: 'update', model: model.identity, id, set }], { label: `${req.method} /api/${model.identity}` });
  } catch (err) {
    return sendBlueprintError(res, err);
  }
  const record = await model.findOne({ id });
  res.set('X-Transaction-Id', result.id);
  return res.json(record);
};
