/**
 * What the benchmarks share: which adapters may run here (disk always; mongo and postgresql only
 * with a URL that points at this machine — load goes to loopback addresses only), and running a
 * benchmark under a watchdog so that every run ends by itself.
 */
import type { AdapterName } from '../test/support/targets';

function loopbackOnly(url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return `not a URL: ${url}`;
  }
  return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host) ? undefined : `host ${host} is not a loopback address`;
}

/** Why the adapter cannot run here, or undefined when it can. */
export function unavailable(adapter: AdapterName): string | undefined {
  switch (adapter) {
    case 'disk':
      return undefined;
    case 'mongo':
      return process.env.MONGO_URL ? loopbackOnly(process.env.MONGO_URL) : 'MONGO_URL is not set';
    case 'postgresql':
      return process.env.PG_URL ? loopbackOnly(process.env.PG_URL) : 'PG_URL is not set';
  }
}

/** Runs `main` and exits with its code; after `watchdogMs` the process gives up (exit 2). */
export function runWithWatchdog(main: () => Promise<number>, watchdogMs: number): void {
  const watchdog = setTimeout(() => {
    console.log(`\nwatchdog: still running after ${watchdogMs / 60_000} min, giving up`);
    process.exit(2);
  }, watchdogMs);
  main().then(
    (code) => {
      clearTimeout(watchdog);
      process.exit(code);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1): the same seed gives the same run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
