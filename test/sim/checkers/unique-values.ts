/**
 * unique-values (R9, docs/protocol-v3.md; on v2, the unique index alone): a member's `handle` is
 * unique, and
 * - at no point does the committed state have two live members with one handle: replaying the
 *   committed transactions in their commit order, after each one every handle is held at most once;
 *   no committed read of the members returns two with one handle either;
 * - a member call told success is committed with its write (its `tag` on its member, or the
 *   member gone for a destroy); one refused because the handle is taken (`already_exists`) wrote
 *   nothing: no committed transaction carries its tag;
 * - nothing of a claim leaks: at the end no dead claim is left — no MongoRecords claim document
 *   (`~claim:<token>:<id>`) whose record its token no longer holds, no claim marker
 *   (`_transactClaim`) nor claimed values (SimulatedRecords' `unique`) on a record no one holds.
 */
import { documentKey } from '../../../lib/core/operations';
import type { Image, Step } from '../../../lib/core/types';
import type { DbEvent } from '../database';
import { isClaimDocument, RECORD_FIELDS } from '../simulated-records';
import { isMemberOp, type OpRecord } from '../workload';
import { Checker, type RunEnd } from './checker';
import { txIdOf } from './one-key-one-outcome';

const MODEL = 'member';
const UNIQUE = 'handle';
/** Where a MongoRecords claim document names its owner (lib/store/mongo/records.ts CLAIM_OF_FIELD). */
const CLAIM_OF_FIELD = '_transactClaimOf';

/** The handles held by more than one of `members` (live images), each with its holders. */
function duplicates(members: Iterable<Image>): string[] {
  const byHandle = new Map<string, string[]>();
  for (const member of members) {
    const handle = String(member[UNIQUE]);
    byHandle.set(handle, [...(byHandle.get(handle) ?? []), String(member.id)]);
  }
  return [...byHandle].filter(([, ids]) => ids.length > 1).map(([handle, ids]) => `${handle} (${ids.join(', ')})`);
}

export class UniqueValues extends Checker {
  readonly name = 'unique-values';
  private readonly commits: { id: string; steps: Step[] }[] = [];

  override observe(event: DbEvent): void {
    if (event.kind !== 'log' || event.after.state !== 'committed' || event.before?.state === 'committed') return;
    this.commits.push({ id: event.id, steps: structuredClone((event.after.steps as Step[] | undefined) ?? []) });
  }

  override finish(end: RunEnd): void {
    this.judgeCommittedHistory(end);
    for (const record of end.workload.records) {
      if (isMemberOp(record.plan.kind)) this.judgeCall(record);
      if (record.plan.kind === 'member-find' && record.outcome?.ok === true) {
        const found = duplicates((record.outcome.value as { members: Image[] }).members);
        if (found.length > 0) this.report(`member-find (op ${record.id}, ${record.process.label}) read two members with one handle: ${found.join('; ')}`, []);
      }
    }
    this.judgeLeftovers();
  }

  /** The members as each commit leaves them, from the initial ones: never one handle twice. */
  private judgeCommittedHistory(end: RunEnd): void {
    const members = new Map<string, Image>([...end.initial].filter(([key]) => key.startsWith(`${MODEL}:`)).map(([, doc]) => [String(doc.id), structuredClone(doc) as Image]));
    for (const commit of this.commits) {
      const mine = commit.steps.filter((step) => step.model === MODEL);
      if (mine.length === 0) continue;
      for (const step of mine) {
        if (step.after === null) members.delete(step.id);
        else members.set(step.id, { ...step.after, id: step.id });
      }
      const found = duplicates(members.values());
      if (found.length > 0) this.report(`after transaction ${commit.id} committed, two committed members hold one handle: ${found.join('; ')}`, [commit.id, ...mine.map((step) => documentKey(MODEL, step.id))]);
    }
  }

  /** A member call's answer against the committed logs. */
  private judgeCall(record: OpRecord): void {
    const { plan, outcome } = record;
    const what = `op ${record.id} ${plan.kind}${record.target === undefined ? '' : ` of ${record.target}`}${plan.handle === undefined ? '' : ` to ${plan.handle}`} (${plan.style ?? ''}, ${record.process.label}${plan.key === undefined ? '' : `, key ${plan.key}`})`;
    const refs = [record.target === undefined ? '' : documentKey(MODEL, record.target), plan.key ?? ''];
    const wrote = (step: Step): boolean => step.model === MODEL && step.id === record.target && (plan.kind === 'member-destroy' ? step.after === null : step.after?.tag === plan.tag);
    if (outcome?.ok === true && outcome.value !== null) {
      const txId = txIdOf(record);
      const commit = this.commits.find((c) => c.id === txId);
      if (commit === undefined || !commit.steps.some(wrote)) this.report(`${what} was told success, but ${String(txId)} ${commit === undefined ? 'never committed' : 'committed without its write'}`, [...refs, txId ?? '']);
    }
    if (outcome?.ok === false && outcome.code === 'already_exists' && plan.tag !== undefined) {
      const landed = this.commits.find((c) => c.steps.some((step) => step.model === MODEL && step.after?.tag === plan.tag));
      if (landed !== undefined) this.report(`${what} was refused (already_exists), but ${landed.id} committed its write`, [...refs, landed.id]);
    }
  }

  /** What is left of claims at the end: only claims whose record their holder still holds (none once recovery quiesced). */
  private judgeLeftovers(): void {
    const table = this.world.db.table(MODEL);
    for (const [id, row] of table) {
      const key = documentKey(MODEL, id);
      if (isClaimDocument(row) || id.startsWith('~claim:')) {
        const owner = (row[CLAIM_OF_FIELD] ?? {}) as { id?: unknown; token?: unknown };
        const holder = table.get(String(owner.id))?.[RECORD_FIELDS.lock];
        if (holder === undefined || holder !== owner.token) this.report(`claim document ${id} is left after its holder ${String(owner.token)} let go of ${String(owner.id)} (now ${holder === undefined ? 'free' : `held by ${String(holder)}`}): a dead claim never swept`, [key, documentKey(MODEL, String(owner.id))]);
        continue;
      }
      if (row[RECORD_FIELDS.lock] !== undefined) continue;
      if (row[RECORD_FIELDS.claim] !== undefined) this.report(`${key} is free but still carries the claim markers ${JSON.stringify(row[RECORD_FIELDS.claim])}`, [key]);
      if (row[RECORD_FIELDS.unique] !== undefined) this.report(`${key} is free but still claims ${JSON.stringify(row[RECORD_FIELDS.unique])}`, [key]);
    }
  }
}
