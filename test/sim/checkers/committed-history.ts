/**
 * committed-history: the database is the replay of its committed history. The commit order is
 * the order in which the logs' compare-and-sets to `committed` landed; replaying each committed
 * transaction's steps in that order from the initial data, every step's before-image must be the
 * committed state at that point (else it read or overwrote something uncommitted: a lost update),
 * no transaction commits twice, and once recovery quiesced every document equals the replay.
 */
import { jsonEqual } from '../../../lib/core/json';
import { documentKey } from '../../../lib/core/operations';
import type { Image, Step } from '../../../lib/core/types';
import type { DbEvent, Doc } from '../database';
import { Checker, type RunEnd } from './checker';
import { storedDocuments } from './documents';

export class CommittedHistory extends Checker {
  readonly name = 'committed-history';
  private readonly commits: { id: string; steps: Step[]; at: number }[] = [];

  override observe(event: DbEvent): void {
    if (event.kind !== 'log') return;
    const was = event.before?.state;
    if (event.after.state === 'committed' && was !== 'committed') {
      if (this.commits.some((commit) => commit.id === event.id)) this.report(`transaction ${event.id} committed twice`, [event.id]);
      this.commits.push({ id: event.id, steps: structuredClone((event.after.steps as Step[] | undefined) ?? []), at: this.world.runtime.now });
    }
    if (was === 'committed' && event.after.state !== 'committed') this.report(`committed transaction ${event.id} became ${String(event.after.state)}`, [event.id]);
  }

  override finish(end: RunEnd): void {
    const replay = new Map<string, Doc>(structuredClone([...end.initial]));
    for (const commit of this.commits) {
      commit.steps.forEach((step, seq) => {
        const key = documentKey(step.model, step.id);
        const committed = replay.get(key) ?? null;
        if (!jsonEqual(committed, step.before)) {
          this.report(`transaction ${commit.id} step ${seq} on ${key} was planned on ${show(step.before)}, but the committed state then was ${show(committed)}`, [key, commit.id]);
        }
        if (step.after === null) replay.delete(key);
        else replay.set(key, structuredClone(step.after));
      });
    }
    if (!end.quiesced) return;
    const stored = storedDocuments(this.world);
    for (const key of new Set([...replay.keys(), ...stored.keys()])) {
      const expected = replay.get(key) ?? null;
      const actual = stored.get(key) ?? null;
      if (!jsonEqual(expected, actual)) this.report(`${key} is ${show(actual)}, but its committed history makes it ${show(expected)}`, [key, ...this.writersOf(key)]);
    }
  }

  private writersOf(key: string): string[] {
    return this.commits.filter((commit) => commit.steps.some((step) => documentKey(step.model, step.id) === key)).map((commit) => commit.id);
  }
}

function show(image: Image | null): string {
  if (image === null) return 'nothing';
  const { id: _id, ...rest } = image;
  return JSON.stringify(rest);
}
