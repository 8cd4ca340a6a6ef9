/**
 * record-rules (log protocol v3, docs/protocol-v3.md): every change the database accepts to a
 * document's record keeps the rules, judged on the record before and after it and the logs as
 * they are at that instant:
 * - an id is inserted only as a create's stub (R1): no document appears by an insert, so no late
 *   insert can put one back;
 * - every change moves the version on by one (R2): no guard ever matches twice;
 * - a document's value changes only to the after-image its holder's COMMITTED log recorded for it
 *   at exactly the version it had (R3, R4): plain reads see committed values only, a stale or
 *   late write never lands, and a tombstone comes back only by a committed create;
 * - a lock moves to another holder only when its holder can no longer commit (R5, R6): its log is
 *   neither missing nor pending at its epoch, nor committed with this record unapplied;
 * - a lock is freed without its write only when its holder did not commit one (R4).
 * Once recovery quiesced, no record is held and no stub is left.
 */
import { jsonEqual } from '../../../lib/core/json';
import { LOG_IDENTITY } from '../../../lib/models/hook-models';
import { documentKey } from '../../../lib/core/operations';
import { type DocRecord, lastStepOn, parseToken } from '../../../lib/store/records';
import { toLogDocument } from '../../../lib/store/contract';
import type { Image, LogDocument } from '../../../lib/core/types';
import type { DbEvent } from '../database';
import { isClaimDocument, recordOf } from '../simulated-records';
import { Checker, type RunEnd } from './checker';

export class RecordRules extends Checker {
  readonly name = 'record-rules';

  override observe(event: DbEvent): void {
    if (event.kind !== 'record') return;
    // A claim document of MongoRecords (R9) is no document's record: unique-values judges claims.
    if (isClaimDocument(event.before) || isClaimDocument(event.after)) return;
    const key = documentKey(event.table, event.id);
    const after = recordOf(event.table, event.id, event.after);
    if (event.before === null) {
      if (after.state !== 'reserved' || after.version !== 1 || after.lock === null) this.report(`${key} was inserted as ${describe(after)}, not as a held stub`, [key]);
      return;
    }
    const before = recordOf(event.table, event.id, event.before);
    const holder = before.lock === null ? null : parseToken(before.lock.token);
    const refs = [key, ...(holder === null ? [] : [holder.txId])];
    if (after.version !== before.version + 1) this.report(`${key} went from version ${before.version} to ${after.version} (${describe(before)} -> ${describe(after)})`, refs);
    const log = holder === null ? null : this.logOf(holder.txId);
    const committedStep = holder !== null && log !== null && log.state === 'committed' && log.epoch === holder.epoch ? lastStepOn(log.steps, event.table, event.id) : undefined;
    const recorded = committedStep !== undefined && committedStep.version === before.version ? committedStep : undefined;
    if (!jsonEqual(visible(before), visible(after))) {
      if (recorded === undefined) {
        this.report(`${key} changed from ${show(visible(before))} to ${show(visible(after))} at version ${before.version} under ${before.lock?.token ?? 'no lock'}, which no committed log recorded at that version (its log: ${describeLog(log)})`, refs);
      } else if (!jsonEqual(recorded.after, visible(after))) {
        this.report(`${key} took ${show(visible(after))}, but ${log?.id ?? ''} committed ${show(recorded.after)} for it`, refs);
      }
      return;
    }
    if (before.lock === null || holder === null) return; // a grant
    const unapplied = recorded !== undefined && !jsonEqual(recorded.after, visible(before));
    if (after.lock === null && unapplied) this.report(`${key} was freed without the write ${before.lock.token} committed for it`, refs);
    if (after.lock !== null && after.lock.token !== before.lock.token) {
      const live = log === null || (log.state === 'pending' && log.epoch === holder.epoch);
      if (live || unapplied) this.report(`${key} was taken from ${before.lock.token} by ${after.lock.token} while its holder ${live ? `could still commit (its log: ${describeLog(log)})` : 'had committed it unapplied'}`, [...refs, parseToken(after.lock.token).txId]);
    }
  }

  override finish(end: RunEnd): void {
    if (!end.quiesced) return;
    for (const identity of this.world.models.keys()) {
      for (const [id, row] of this.world.db.table(identity)) {
        const record = recordOf(identity, id, row);
        if (isClaimDocument(row)) continue; // unique-values judges what is left of claims
        if (record.lock !== null || record.state === 'reserved') this.report(`${documentKey(identity, id)} is left ${describe(record)} after recovery quiesced`, [documentKey(identity, id), ...(record.lock === null ? [] : [parseToken(record.lock.token).txId])]);
      }
    }
  }

  private logOf(txId: string): LogDocument | null {
    const row = this.world.db.table(LOG_IDENTITY).get(txId);
    return row === undefined ? null : toLogDocument({ ...row, id: row[this.world.pkColumn] ?? row.id });
  }
}

/** What plain reads see of a record: its image when live, nothing otherwise. */
function visible(record: DocRecord): Image | null {
  return record.state === 'live' ? record.image : null;
}

function describe(record: DocRecord): string {
  return `${record.state} v${record.version}${record.lock === null ? '' : ` held by ${record.lock.token}`}`;
}

function describeLog(log: LogDocument | null): string {
  return log === null ? 'none' : `${log.state} at epoch ${log.epoch}`;
}

function show(image: Image | null): string {
  return image === null ? 'nothing' : JSON.stringify(image);
}
