/**
 * DELETE /api/:model/:id (readwrite) → 200 the destroyed record (its last image). Financial
 * models never (405 destroy_forbidden); other models only with `http.destroy: true` (else 405
 * method_not_allowed). Through the engine, so the destroy is logged and reversible.
 */
const { writableModel, validId, sendBlueprintError } = require('../../lib/crud');

module.exports = async function destroy(req, res) {
  const model = writableModel(req, res, 'destroy');
  if (model === undefined) return;
  const id = validId(req, res);
  if (id === undefined) return;
  let result;
  try {
    result = await sails.transact([{ op: 'destroy', model: model.identity, id }], { label: `DELETE /api/${model.identity}` });
  } catch (err) {
    return sendBlueprintError(res, err);
  }
  res.set('X-Transaction-Id', result.id);
  return res.json(result.steps[0].before);
};
