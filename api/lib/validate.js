/**
 * Strict request validation with joi: unknown fields are rejected, nothing is converted, and the
 * first problem answers 400 `validation_failed` with its path.
 */
function validate(value, schema, res, prefix) {
  const { error, value: valid } = schema.validate(value, { abortEarly: true, convert: false, allowUnknown: false });
  if (error === undefined) return valid;
  const detail = error.details[0];
  const path = [prefix, ...detail.path].filter((part) => part !== '' && part !== undefined).join('.');
  res.status(400).json({ error: { code: 'validation_failed', message: detail.message, path } });
  return undefined;
}

/** The JSON body, valid against `schema`, or undefined after answering 400. */
function validateBody(req, res, schema) {
  const body = req.body === undefined || req.body === null ? {} : req.body;
  return validate(body, schema, res, 'body');
}

/** The query string, valid against `schema` (query values are strings: use Joi's conversions there). */
function validateQuery(req, res, schema) {
  const { error, value } = schema.validate(req.query, { abortEarly: true, allowUnknown: false });
  if (error === undefined) return value;
  const detail = error.details[0];
  res.status(400).json({ error: { code: 'validation_failed', message: detail.message, path: ['query', ...detail.path].join('.') } });
  return undefined;
}

module.exports = { validate, validateBody, validateQuery };
