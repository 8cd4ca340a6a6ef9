import { isTransactError, type TransactError } from '../../lib/core/errors';

/** Awaits a promise that must fail with a TransactError, and returns that error. */
export async function rejection(promise: PromiseLike<unknown>): Promise<TransactError<string>> {
  const outcome = await Promise.resolve(promise).then(() => null, (err: unknown) => err);
  if (isTransactError(outcome)) return outcome;
  throw new Error(`expected a TransactError, got ${outcome === null ? 'success' : String(outcome)}`);
}
