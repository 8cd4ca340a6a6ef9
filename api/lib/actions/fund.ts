/**
 * The fund's JSON endpoints (api/controllers/fund/*): validate strictly, run the service, answer
 * its result or its registry error.
 */
import * as fund from '../fund';
import { type FundAction, sendCaught, sendError, validate, validBody } from '../http';
import { callerKey } from './idempotency-key';

/**
 * POST /api/deposit {investor, amount} [Idempotency-Key] → 201 {payment}: a `pending` Payment with
 * a new paymentId, to be paid at the gateway and credited by its callback. Created through the
 * engine. A repeat with the same Idempotency-Key (by the same user) returns the same payment.
 */
export const deposit: FundAction = async (req, res) => {
  const body = validBody(req, res, fund.schemas.deposit);
  if (body === undefined) return;
  const key = callerKey(req, res);
  if (key === undefined) return;
  try {
    res.status(201).json(await fund.deposit(req._sails, body, key ?? undefined));
  } catch (err) {
    sendCaught(res, err);
  }
};

/**
 * POST /api/withdrawal {investor, amount} [Idempotency-Key] → 201 {withdrawal, investor}: cash
 * −amount (never below 0: 409 insufficient_funds) and its ledger lines (cash −amount, withdrawals
 * +amount), one batch. A repeat with the same Idempotency-Key (by the same user) debits nothing
 * more and answers the same withdrawal; another body under the key: 409 idempotency_conflict.
 */
export const withdrawal: FundAction = async (req, res) => {
  const body = validBody(req, res, fund.schemas.withdrawal);
  if (body === undefined) return;
  const key = callerKey(req, res);
  if (key === undefined) return;
  try {
    res.status(201).json(await fund.withdraw(req._sails, body, key ?? undefined));
  } catch (err) {
    sendCaught(res, err);
  }
};

/**
 * POST /api/order {investor, amount, maxPerLoan?, funding} [Idempotency-Key] → 201
 * {order, allocations, payment?}.
 *   cash:    one batch — cash −amount (min 0), invested +amount, the amount spread over as many
 *            open loans as possible (platforms interleaved, parts ≤ maxPerLoan and ≤ room), the
 *            allocations, ledger lines, the order `allocated`. 409 insufficient_funds /
 *            insufficient_capacity with nothing written (also when a loan fills up meanwhile).
 *   gateway: the order `awaiting_payment` and its pending Payment; the callback allocates it.
 * A repeat with the same Idempotency-Key (by the same user) returns the same order.
 */
export const order: FundAction = async (req, res) => {
  const body = validBody(req, res, fund.schemas.order);
  if (body === undefined) return;
  const key = callerKey(req, res);
  if (key === undefined) return;
  try {
    res.status(201).json(await fund.placeOrder(req._sails, body, key ?? undefined));
  } catch (err) {
    sendCaught(res, err);
  }
};

/**
 * POST /api/payment/callback {paymentId, status: 'succeeded'|'failed', amount} from the gateway,
 * signed: `X-Signature: <hex HMAC-SHA256 of the raw body>` (no bearer token). 200 {payment, order}
 * every time the same callback is delivered, with effect once: a success credits the cash (and
 * allocates a gateway order, or leaves it `paid` when the loans are full), a failure cancels.
 * 401 bad signature, 404 unknown payment, 409 amount_mismatch (recorded on the payment),
 * 409 conflict (another final status already).
 */
export const paymentCallback: FundAction = async (req, res) => {
  if (!fund.validSignature(req.rawBody, req.get('x-signature'), req._sails.config.custom.paymentWebhookSecret)) {
    sendError(res, 'unauthorized', 'missing or invalid X-Signature');
    return;
  }
  const body = validBody(req, res, fund.schemas.callback);
  if (body === undefined) return;
  try {
    res.status(200).json(await fund.handleCallback(req._sails, body));
  } catch (err) {
    sendCaught(res, err);
  }
};

/**
 * POST /api/payment/:paymentId/reassign {investor, reason} (admin) → 201 {payment, transaction}:
 * a deposit credited to the wrong investor moves, with its cash and two ledger lines, to the
 * right one (api/lib/fund/corrections.ts). 409 insufficient_funds when the money was spent
 * meanwhile, conflict when it is not a credited deposit or already that investor's; nothing
 * written on a refusal.
 */
export const reassignDeposit: FundAction = async (req, res) => {
  const paymentId = validate(req.param('paymentId'), fund.schemas.paymentId, res, 'paymentId');
  if (paymentId === undefined) return;
  const body = validBody(req, res, fund.schemas.reassign);
  if (body === undefined) return;
  try {
    res.status(201).json(await fund.reassignDeposit(req._sails, paymentId, body));
  } catch (err) {
    sendCaught(res, err);
  }
};
