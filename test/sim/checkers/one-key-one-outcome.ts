/**
 * one-key-one-outcome: every caller of an idempotency key that got an answer — a result, or an
 * error that decided the request (lib/core/log-document.ts isDecided) — got the same answer, and that answer
 * is the key's committed transaction (its steps, or its stored result) when it is a success:
 * the key's effects happened once, and each caller was told about those.
 */
import { jsonEqual } from '../../../lib/core/json';
import { LOG_IDENTITY } from '../../../lib/models/hook-models';
import { isDecided } from '../../../lib/core/log-document';
import { Checker, type RunEnd } from './checker';
import type { OpRecord } from '../workload';

export function answerOf(record: OpRecord): string | null {
  const outcome = record.outcome;
  if (outcome === null) return null;
  if (outcome.ok) return `ok ${JSON.stringify(outcome.value)}`;
  return isDecided({ state: 'rolled-back', error: { code: outcome.code, message: '' } }) ? `error ${outcome.code}` : null;
}

export class OneKeyOneOutcome extends Checker {
  readonly name = 'one-key-one-outcome';

  override finish(end: RunEnd): void {
    const byKey = new Map<string, OpRecord[]>();
    for (const record of end.workload.records) {
      if (record.plan.key !== undefined) byKey.set(record.plan.key, [...(byKey.get(record.plan.key) ?? []), record]);
    }
    for (const [key, records] of byKey) {
      const answered = records.filter((record) => answerOf(record) !== null);
      const distinct = [...new Set(answered.map(answerOf))];
      const refs = [key, ...answered.flatMap((record) => txIdOf(record) ?? [])];
      if (distinct.length > 1) {
        this.report(`key ${key}: its callers got ${distinct.length} different answers: ${answered.map((r) => `op ${r.id} (${r.process.label}) ${(answerOf(r) as string).slice(0, 200)}`).join(' | ')}`, refs);
      }
      for (const record of answered) {
        if (record.outcome?.ok !== true) continue;
        const txId = txIdOf(record);
        const log = txId === null ? undefined : this.world.db.table(LOG_IDENTITY).get(txId);
        const value = record.outcome.value as { steps?: unknown };
        const same = log !== undefined && log.state === 'committed' && (record.plan.kind === 'batch' || record.plan.style === 'batch' ? jsonEqual(log.steps, value.steps) : jsonEqual(log.result, record.outcome.value));
        if (!same) this.report(`key ${key}: op ${record.id} (${record.process.label}) was told success, but the key's transaction ${String(txId)} is ${String(log?.state ?? 'absent')} with other effects`, refs);
      }
    }
  }
}

/** The transaction a successful transfer names: a batch's id, an interactive transaction's txId. */
export function txIdOf(record: OpRecord): string | null {
  if (record.outcome?.ok !== true) return null;
  const value = record.outcome.value as { id?: unknown; txId?: unknown } | null;
  const id = value?.id ?? value?.txId;
  return typeof id === 'string' ? id : null;
}
