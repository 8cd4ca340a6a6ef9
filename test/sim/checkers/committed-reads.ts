/**
 * committed-reads: committed reads and snapshots return only committed images — the balances they
 * return sum to the money that exists, and in a snapshot each balance agrees with the transfer
 * records read with it; a count of accounts counts every account.
 */
import type { Image } from '../../../lib/core/types';
import { Checker, type RunEnd } from './checker';
import { moneyProblems } from './money';

export class CommittedReads extends Checker {
  readonly name = 'committed-reads';

  constructor(world: ConstructorParameters<typeof Checker>[0], private readonly opening: number, private readonly count: number) {
    super(world);
  }

  override finish(end: RunEnd): void {
    for (const record of end.workload.records) {
      if (record.outcome?.ok !== true) continue;
      const value = record.outcome.value as { accounts?: Image[]; transfers?: Image[]; count?: number };
      const what = `${record.plan.kind} (op ${record.id}, ${record.process.label})`;
      if (record.plan.kind === 'snapshot' || record.plan.kind === 'find') {
        const problems = moneyProblems(value.accounts ?? [], record.plan.kind === 'snapshot' ? value.transfers ?? [] : null, this.opening, this.count);
        for (const problem of problems) this.report(`${what} read uncommitted state: ${problem}`, (value.accounts ?? []).map((a) => `account:${String(a.id)}`));
      }
      if (record.plan.kind === 'count' && value.count !== this.count) this.report(`${what} counted ${String(value.count)} accounts instead of ${this.count}`, []);
    }
  }
}
