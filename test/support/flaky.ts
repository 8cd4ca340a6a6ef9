/**
 * An AtomicStore that fails like a flaky network: the next `failures` calls throw a transient
 * error (ECONNRESET), either before reaching the datastore or — `lostReply` — after the call
 * went through, as when a reply is lost. Everything else is delegated.
 */
import type { AtomicStore } from '../../lib/store';

export class FlakyStore {
  calls = 0;
  readonly callsByMethod = new Map<string, number>();

  /** @param options.methods only calls of these methods fail (default: any call) */
  static wrap(inner: AtomicStore, failures: number, options: { lostReply?: boolean; error?: () => Error; methods?: readonly string[] } = {}): AtomicStore & { flaky: FlakyStore } {
    const flaky = new FlakyStore(failures, options.lostReply ?? false, options.error ?? transientError, options.methods);
    const proxy = new Proxy(inner, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property === 'flaky') return flaky;
        if (typeof value !== 'function' || property === 'setup') return value;
        return (...args: unknown[]) => flaky.call(String(property), () => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      },
    });
    return proxy as AtomicStore & { flaky: FlakyStore };
  }

  private constructor(
    public remaining: number,
    private readonly lostReply: boolean,
    private readonly error: () => Error,
    private readonly methods: readonly string[] | undefined,
  ) {}

  async call(method: string, run: () => Promise<unknown>): Promise<unknown> {
    this.calls++;
    this.callsByMethod.set(method, (this.callsByMethod.get(method) ?? 0) + 1);
    if (this.remaining <= 0 || (this.methods !== undefined && !this.methods.includes(method))) return run();
    this.remaining--;
    if (this.lostReply) await run();
    throw this.error();
  }
}

export function transientError(): Error {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
}
