/**
 * HTTP: not Sails' default port 1337 (PORT overrides), and a strict JSON body parser that keeps
 * the raw body (the payment callback's signature is computed over it) and answers malformed or
 * oversized bodies with the API's error shape.
 */
const express = require('express');

const json = express.json({
  limit: process.env.TRANSACT_BODY_LIMIT || '512kb',
  strict: true,
  verify: (req, _res, buffer) => {
    req.rawBody = buffer;
  },
});

function jsonBodyParser() {
  return function parseJson(req, res, next) {
    json(req, res, (err) => {
      if (!err) return next();
      const tooLarge = err.type === 'entity.too.large';
      return res.status(tooLarge ? 413 : 400).json({
        error: { code: tooLarge ? 'payload_too_large' : 'malformed_json', message: tooLarge ? `the body exceeds ${err.limit} bytes` : 'the body is not valid JSON' },
      });
    });
  };
}

/**
 * The admin page's HTML forms (application/x-www-form-urlencoded) are parsed on /admin routes
 * only; everything else keeps the strict JSON parser above.
 */
const adminForm = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 50 });

function isAdminPath(req) {
  const path = req.path || '';
  return path === '/admin' || path.startsWith('/admin/');
}

function bodyParser() {
  const parseJson = jsonBodyParser();
  return function parseBody(req, res, next) {
    if (isAdminPath(req) && req.is('application/x-www-form-urlencoded')) {
      return adminForm(req, res, (err) => (err ? res.status(err.status || 400).type('text/plain').send('bad form body') : next()));
    }
    return parseJson(req, res, next);
  };
}

module.exports.port = Number(process.env.PORT) || 4117;
module.exports.http = {
  middleware: {
    bodyParser: bodyParser(),
  },
};
