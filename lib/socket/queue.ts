/**
 * A small single-consumer queue with an async pop, shared by the socket
 * facades: the protocol pushes from the packet path (no promise made there
 * unless a reader waits), the reader awaits `next()`.
 */

export class AsyncQueue<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: ((v: T | null) => void) | null = null;
  private failWith: ((e: Error) => void) | null = null;
  private closed = false;

  get length(): number {
    return this.items.length - this.head;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  push(v: T): void {
    if (this.closed) return;
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      this.failWith = null;
      w(v);
      return;
    }
    this.items.push(v);
  }

  /** The next item without waiting, or undefined. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head]!;
    (this.items as Array<T | undefined>)[this.head] = undefined;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }

  /** The next item; null once closed and drained. Rejects when `fail` is called while waiting. */
  next(): Promise<T | null> {
    const v = this.shift();
    if (v !== undefined) return Promise.resolve(v);
    if (this.closed) return Promise.resolve(null);
    return new Promise<T | null>((resolve, reject) => {
      this.waiter = resolve;
      this.failWith = reject;
    });
  }

  /** Wake a waiting reader with an error (ICMP error on a connected socket). */
  fail(e: Error): boolean {
    const f = this.failWith;
    if (f === null) return false;
    this.waiter = null;
    this.failWith = null;
    f(e);
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.waiter;
    this.waiter = null;
    this.failWith = null;
    if (w !== null) w(null);
  }
}

/** An abort signal as a promise rejection-free race helper: resolves when aborted. */
export function whenAborted(signal: AbortSignal | undefined): Promise<void> | null {
  if (signal === undefined) return null;
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
