/**
 * POST /api/:model (readwrite) → 201 the created record. Only models with an `http.create`
 * allowlist, only those attributes, strictly typed; written through the engine (logged, locked,
 * reversible). The transaction id is in the `X-Transaction-Id` header.
 */
const { writableModel, valuesSchema, sendBlueprintError } = require('../../lib/crud');
const { validateBody } = require('../../lib/validate');

module.exports = async function create(req, res) {
  const model = writableModel(req, res, 'create');
  if (model === undefined) return;
  const values = validateBody(req, res, valuesSchema(model.identity, 'create'));
  if (values === undefined) return;
  let result;
  try {
    result = await sails.transact([{ op: 'create', model: model.identity, values }], { label: `POST /api/${model.identity}` });
  } catch (err) {
    return sendBlueprintError(res, err);
  }
  const record = await model.findOne({ id: result.steps[0].id });
  res.set('X-Transaction-Id', result.id);
  return res.status(201).json(record);
};
