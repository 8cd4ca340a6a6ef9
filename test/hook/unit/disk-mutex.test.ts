/**
 * DiskMutex (lib/store/disk/mutex.ts), sails-disk's compare-and-set: runs sharing a key never
 * overlap, runs on disjoint keys do, and an exclusive run overlaps none. Pure: timers only.
 */
import { expect } from 'chai';
import { DiskMutex } from '../../../lib/store/disk/mutex';

describe('DiskMutex (pure)', function () {
  /** Runs that record when they start and end, each taking `ms`. */
  function recorder(): { log: string[]; run: (name: string, ms: number) => () => Promise<string> } {
    const log: string[] = [];
    return {
      log,
      run: (name, ms) => async () => {
        log.push(`${name}+`);
        await new Promise((resolve) => setTimeout(resolve, ms));
        log.push(`${name}-`);
        return name;
      },
    };
  }

  it('runs on one key one after the other, in the order they came; runs on other keys meanwhile', async function () {
    const mutex = new DiskMutex();
    const { log, run } = recorder();
    await Promise.all([mutex.keyed(['a', 'b'], run('ab', 20)), mutex.keyed(['b'], run('b', 5)), mutex.keyed(['c'], run('c', 5))]);
    expect(log).to.deep.equal(['ab+', 'c+', 'c-', 'ab-', 'b+', 'b-']);
  });

  it('an exclusive run waits for every earlier run, and every later run waits for it', async function () {
    const mutex = new DiskMutex();
    const { log, run } = recorder();
    await Promise.all([mutex.keyed(['a'], run('a', 10)), mutex.keyed(['b'], run('b', 20)), mutex.exclusive(run('all', 5)), mutex.keyed(['c'], run('c', 5))]);
    expect(log).to.deep.equal(['a+', 'b+', 'a-', 'b-', 'all+', 'all-', 'c+', 'c-']);
  });

  it('a failed run passes its error on and frees its keys', async function () {
    const mutex = new DiskMutex();
    const failed = mutex.keyed(['a'], async () => {
      throw new Error('boom');
    });
    const next = mutex.keyed(['a'], async () => 'next');
    expect(await failed.then(() => 'resolved', (err: Error) => err.message)).to.equal('boom');
    expect(await next).to.equal('next');
  });
});
