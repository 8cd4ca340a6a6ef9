/**
 * An AtomicStore whose calls can be held at a gate: one engine instance's traffic to the datastore
 * stalls (its calls were issued and wait to arrive, like packets behind a stalled link) while
 * everything else in the process goes on. The in-process form of a network stall, for sails-disk
 * and for the racing-recoverers case; the cross-process forms use SIGSTOP and Toxiproxy.
 */
import type { AtomicStore } from '../../lib/store';

export class Gate {
  /** Calls waiting at the gate. */
  waiting = 0;
  private closed = false;
  private opened: Promise<void> = Promise.resolve();
  private release: (() => void) | undefined;
  private trip: { method: string; remaining: number } | undefined;
  private tripWhen: { method: string; match: (args: readonly unknown[]) => boolean } | undefined;

  static wrap(inner: AtomicStore): AtomicStore & { gate: Gate } {
    const gate = new Gate();
    const proxy = new Proxy(inner, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property === 'gate') return gate;
        if (typeof value !== 'function' || property === 'adopt') return value;
        return async (...args: unknown[]) => {
          await gate.pass(String(property), args);
          return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      },
    });
    return proxy as AtomicStore & { gate: Gate };
  }

  /** Lets `count` more calls of `method` through, then closes for every call. */
  closeAfter(method: string, count: number): void {
    this.trip = { method, remaining: count };
  }

  /** Closes for every call from the first call of `method` whose arguments `match` (that call included). */
  closeWhen(method: string, match: (args: readonly unknown[]) => boolean): void {
    this.tripWhen = { method, match };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.opened = new Promise((resolve) => (this.release = resolve));
  }

  open(): void {
    this.closed = false;
    this.trip = undefined;
    this.tripWhen = undefined;
    this.release?.();
  }

  /** Waits (bounded) until at least one call is held at the gate. */
  async held(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.waiting === 0) {
      if (Date.now() > deadline) throw new Error('no call reached the gate');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private async pass(method: string, args: readonly unknown[]): Promise<void> {
    if (!this.closed && this.trip?.method === method && this.trip.remaining-- <= 0) this.close();
    if (!this.closed && this.tripWhen?.method === method && this.tripWhen.match(args)) this.close();
    if (!this.closed) return;
    this.waiting++;
    await this.opened;
    this.waiting--;
  }
}
