/** The Idempotency-Key header of the fund's money endpoints, as the caller's own key. */
import { type CallerKey, schemas } from '../fund';
import { type FundRequest, type FundResponse, validate } from '../http';
import { callerOf } from '../roles';

/**
 * The request's Idempotency-Key, in its caller's scope (api/lib/roles callerOf): null without
 * one; undefined when it is invalid (400 at `headers.idempotency-key` answered, nothing written).
 */
export function callerKey(req: FundRequest, res: FundResponse): CallerKey | null | undefined {
  const header = req.get('idempotency-key');
  if (header === undefined) return null;
  const key = validate(header, schemas.idempotencyKey, res, 'headers.idempotency-key');
  return key === undefined ? undefined : { key, scope: callerOf(req) };
}
