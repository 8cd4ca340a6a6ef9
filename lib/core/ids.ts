import { randomBytes } from 'node:crypto';

/**
 * A new 24-hex id (4 bytes of seconds, 8 random bytes): the shape of a MongoDB ObjectId, so it
 * is a valid primary key on sails-mongo with or without `dontUseObjectIds`, and a plain string
 * elsewhere. Ids are chosen before the insert so that "undo this create" is decidable after a crash.
 */
export function newId(): string {
  const seconds = Math.floor(Date.now() / 1000).toString(16).padStart(8, '0');
  return seconds + randomBytes(8).toString('hex');
}

/** Item leases share the lock records, under a prefix no `model:id` lock can have ('~' is not in identities). */
export const CLAIM_PREFIX = '~job:';
