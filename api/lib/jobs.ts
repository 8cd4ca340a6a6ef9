/**
 * The fund's scheduler jobs (config/transact.js `jobs`): each gets its app from its context.
 */
import type { JobContext } from 'sails-hook-transact';
import type { FundApp } from './app';
import { type DroppedSummary, run } from './dropped-orders';
import { observeRun } from './metrics';

/** The dropped-orders job's entry: one run, its duration into the metrics. */
export async function droppedOrdersJob(ctx: JobContext<FundApp>): Promise<DroppedSummary> {
  const summary = await run(ctx.app, ctx);
  if (summary.skippedReason === undefined) observeRun(ctx.app, summary.ms / 1000);
  return summary;
}
