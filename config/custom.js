/**
 * App settings from the environment. Development gets a fixed, public webhook secret so the
 * simulated gateway works out of the box; production refuses it (api/hooks/production-guard).
 */
const DEV_WEBHOOK_SECRET = 'development-only-webhook-secret-do-not-use-in-production';

module.exports.custom = {
  DEV_WEBHOOK_SECRET,
  paymentWebhookSecret: process.env.PAYMENT_WEBHOOK_SECRET || DEV_WEBHOOK_SECRET,
};
