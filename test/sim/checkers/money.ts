/**
 * money: at the end (recovery quiesced), the accounts hold exactly the money they started with,
 * and each account's balance is its opening balance plus the transfer records into it minus
 * those out of it. The same rule judges committed reads (see committed-reads.ts).
 */
import type { Image } from '../../../lib/core/types';
import { Checker, type RunEnd } from './checker';
import { storedDocuments } from './documents';

/** What is wrong with these accounts and transfers, if anything: the total, then each balance against its transfers. */
export function moneyProblems(accounts: readonly Image[], transfers: readonly Image[] | null, opening: number, count: number): string[] {
  const problems: string[] = [];
  const total = accounts.reduce((sum, account) => sum + Number(account.balance), 0);
  if (accounts.length !== count) problems.push(`${accounts.length} accounts instead of ${count}`);
  else if (total !== opening * count) problems.push(`the accounts hold ${total} instead of ${opening * count} (${accounts.map((a) => `${String(a.id)}=${String(a.balance)}`).join(' ')})`);
  if (transfers === null) return problems;
  for (const account of accounts) {
    const id = String(account.id);
    const expected = transfers.reduce((sum, t) => sum + (t.to === id ? Number(t.amount) : 0) - (t.from === id ? Number(t.amount) : 0), opening);
    if (Number(account.balance) !== expected) problems.push(`${id} holds ${String(account.balance)}, but its transfers make it ${expected}`);
  }
  return problems;
}

export class Money extends Checker {
  readonly name = 'money';

  constructor(world: ConstructorParameters<typeof Checker>[0], private readonly opening: number, private readonly count: number) {
    super(world);
  }

  override finish(end: RunEnd): void {
    if (!end.quiesced) return;
    const stored = [...storedDocuments(this.world)];
    const accounts = stored.filter(([key]) => key.startsWith('account:')).map(([, doc]) => doc);
    const transfers = stored.filter(([key]) => key.startsWith('transfer:')).map(([, doc]) => doc);
    for (const problem of moneyProblems(accounts, transfers, this.opening, this.count)) this.report(`after quiescing: ${problem}`, accounts.map((a) => `account:${String(a.id)}`));
  }
}
