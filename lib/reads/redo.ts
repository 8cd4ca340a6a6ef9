/**
 * Committed reads on log protocol v3 (docs/protocol-v3.md "Why the properties hold"). Nothing is
 * written before a commit point, so a stored document is committed — unless its holder committed
 * it and has not applied it yet: then its committed image is that holder's last step's after-image
 * (R5 "unapplied"). A read takes the stored rows and the held records together (RecordStore.view),
 * then the holders' logs. Those are read later than the rows, so the rows are read again and must
 * show the same versions: no transaction took a lock, applied or freed anything among them in
 * between, and the answer is the committed state at one instant — never half of a transaction.
 * Where a view is one instant, it reads the holders' logs inside it (RecordView.logs), and is the
 * answer; elsewhere a view of one document that nothing holds is too (1 round trip).
 */
import { TransactError } from '../core/errors';
import { documentKey } from '../core/operations';
import type { CommittedQuery, CommittedSource } from './reads';
import { matches, type NullOrder } from '../query/criteria';
import { mergeRows } from '../query/view';
import type { AtomicStore, ViewRequest } from '../store/contract';
import type { Image, LogDocument } from '../core/types';
import { type DocRecord, holding, parseToken, type RecordStore, type RecordView } from '../store/records';

/** How many times a read tries for two equal views before it gives up (documents written without pause). */
const VIEW_ATTEMPTS = 20;

export class RedoReads implements CommittedSource {
  constructor(private readonly records: RecordStore, private readonly logs: Pick<AtomicStore, 'getLog'>) {}

  // All at once: the time between two views is what a write must miss for a read to be answered.
  private readonly logsOf = async (txIds: readonly string[]): Promise<Map<string, LogDocument>> => {
    const found = new Map<string, LogDocument>();
    const logs = await Promise.all(txIds.map((txId) => this.logs.getLog(txId)));
    txIds.forEach((txId, i) => {
      const log = logs[i];
      if (log !== null) found.set(txId, log);
    });
    return found;
  };

  async answer(queries: readonly CommittedQuery[], nulls: NullOrder): Promise<Image[][]> {
    const requests: ViewRequest[] = queries.map(({ info, parsed }) => ({
      model: info.identity,
      where: parsed.where,
      sort: parsed.sort,
      ...(parsed.limit === undefined ? {} : { limit: parsed.skip + parsed.limit }),
    }));
    // Each view is the next attempt's first: a read that met a write tries again at the cost of one view, not two.
    let first = await this.records.view(requests, this.logsOf);
    for (let attempt = 0; attempt < VIEW_ATTEMPTS; attempt++) {
      if (first.logs !== undefined) return answers(queries, first, first.logs, nulls);
      // The holders of the held records, and of the rows that carry a lock: where a view is not one
      // instant (MongoDB: the held records and the rows are two finds) a row may be held when it
      // is read and not yet when the held records were. Its lock, at the same version in the
      // second view, is in that view's held records, and its holder's log must be read.
      const holders = new Set([...first.held.flat(), ...first.rows.flat()].filter((record) => record.lock !== null).map((record) => parseToken((record.lock as { token: string }).token).txId));
      if (holders.size === 0 && oneDocument(first)) return answers(queries, first, new Map(), nulls);
      const logs = await this.logsOf([...holders]);
      const second = await this.records.view(requests, this.logsOf);
      if (sameVersions(first, second)) return answers(queries, second, logs, nulls);
      first = second;
    }
    throw new TransactError('unavailable', `a committed read of ${requests.map((request) => request.model).join(', ')} found no stable view in ${VIEW_ATTEMPTS} attempts: its documents are written continuously`);
  }
}

/** A record's committed image: its holder's committed after-image when unapplied (R5), else as stored. */
export function committedImage(record: DocRecord, log: LogDocument | null): Image | null {
  // The lease plays no part here: only whether the holder committed this record at its version.
  const judged = holding(record, log, Number.NEGATIVE_INFINITY);
  if (judged.kind === 'unapplied') return judged.after;
  return record.state === 'live' ? record.image : null;
}

function answers(queries: readonly CommittedQuery[], view: RecordView, logs: ReadonlyMap<string, LogDocument>, nulls: NullOrder): Image[][] {
  return queries.map(({ parsed }, i) => {
    const held = new Map(view.held[i].map((record) => [documentKey(record.model, record.id), record]));
    const kept = view.rows[i].filter((record) => !held.has(documentKey(record.model, record.id))).map((record) => record.image as Image);
    const extra: Image[] = [];
    for (const record of held.values()) {
      const image = committedImage(record, logs.get(parseToken((record.lock as { token: string }).token).txId) ?? null);
      if (image !== null && matches(image, parsed.where)) extra.push(structuredClone(image));
    }
    return mergeRows(parsed, kept, extra, nulls);
  });
}

function versionsOf(view: RecordView): Map<string, string> {
  const versions = new Map<string, string>();
  for (const record of [...view.rows.flat(), ...view.held.flat()]) versions.set(documentKey(record.model, record.id), `${record.version} ${record.lock?.token ?? ''}`);
  return versions;
}

function sameVersions(a: RecordView, b: RecordView): boolean {
  const left = versionsOf(a);
  const right = versionsOf(b);
  return left.size === right.size && [...left].every(([key, version]) => right.get(key) === version);
}

/** A view of one document at most: one document is one instant on every datastore. */
function oneDocument(view: RecordView): boolean {
  return view.rows.flat().length + view.held.flat().length <= 1;
}
