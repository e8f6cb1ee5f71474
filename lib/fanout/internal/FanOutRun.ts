import { Subscription, type Observable, type ObservableInput, type Subscriber } from 'rxjs';
import { BufferOverflowError } from '../../errors.js';
import type { Permit } from '../ConcurrencyLimit.js';
import { FIXED_PERMIT, type Concurrency } from './concurrency.js';
import { Inner, InnerList, type InnerOwner } from './Inner.js';
import { Queue } from './Queue.js';
import { subscribeWork } from './subscribeInner.js';

/** A validated `fanOut` configuration. */
export interface FanOutPlan<T, R> {
  readonly work: (value: T, index: number) => ObservableInput<R>;
  readonly concurrency: Concurrency;
  readonly ordered: boolean;
  readonly maxBuffered: number;
  readonly overflow: 'error' | 'drop-newest' | 'drop-oldest';
  readonly collect: boolean;
}

/**
 * The state of one `fanOut` subscription. It is also the source's subscriber, linked to the
 * destination before the source is subscribed, so a synchronous firehose stops as soon as the
 * destination is closed. Waiting values are started by a drain loop (a flag and a `while`),
 * never by recursion, so any number of synchronous inners runs with a flat stack.
 */
export class FanOutRun<T, R> extends Subscription implements InnerOwner<R> {
  private readonly waiting = new Queue<T>();
  /** Running inners, plus (ordered) finished ones whose values are not out yet: input order. */
  private readonly inners = new InnerList<R>();
  private index = 0;
  private sourceDone = false;
  private draining = false;
  private again = false;
  private errors: unknown[] | null = null;

  constructor(
    readonly destination: Subscriber<R>,
    private readonly plan: FanOutPlan<T, R>,
  ) {
    super();
  }

  start(source: Observable<T>): void {
    const { destination } = this;
    destination.add(this);
    destination.add(() => this.dispose());
    const { limiter } = this.plan.concurrency;
    if (limiter !== null) destination.add(limiter.available$.subscribe(() => this.drain()));
    source.subscribe(this);
  }

  // The source's side.

  next(value: T): void {
    if (this.closed) return;
    if (!this.draining && this.waiting.length === 0) {
      const permit = this.admit();
      if (permit !== null) {
        this.startInner(value, permit);
        return;
      }
    }
    this.enqueue(value);
  }

  error(error: unknown): void {
    if (this.closed) return;
    this.destination.error(error); // at once, in collect mode too
  }

  complete(): void {
    if (this.closed) return;
    this.sourceDone = true;
    this.unsubscribe();
    this.drain();
  }

  // The inners' side.

  innerDone(inner: Inner<R>): void {
    inner.done = true;
    if (!this.plan.ordered) this.inners.remove(inner); // ordered: removed when flushed
    inner.release('success');
    this.drain();
  }

  innerFailed(inner: Inner<R>, error: unknown): void {
    inner.release('dropped');
    if (!this.plan.collect) {
      this.inners.remove(inner);
      this.destination.error(error);
      return;
    }
    (this.errors ??= []).push(error);
    this.innerDone(inner);
  }

  // Scheduling.

  /** A permit for one more inner, or null when the limit is reached. */
  private admit(): Permit | null {
    const { max, limiter } = this.plan.concurrency;
    if (limiter === null) return this.inners.size < max ? FIXED_PERMIT : null;
    // Ordered: finished-but-held inners keep their slot, so the reorder buffer stays bounded.
    if (this.plan.ordered && this.inners.size >= limiter.limit) return null;
    return limiter.tryAcquire();
  }

  private enqueue(value: T): void {
    const { maxBuffered, overflow } = this.plan;
    if (this.waiting.length >= maxBuffered) {
      if (overflow === 'error') {
        this.destination.error(new BufferOverflowError(maxBuffered));
        return;
      }
      // drop-newest, or drop-oldest with nothing older waiting (maxBuffered 0).
      if (overflow === 'drop-newest' || this.waiting.length === 0) return;
      this.waiting.shift();
    }
    this.waiting.push(value);
  }

  private startInner(value: T, permit: Permit): void {
    const inner = new Inner<R>(this, permit, !this.plan.ordered || this.inners.first === null);
    this.inners.push(inner);
    subscribeWork(this.plan.work, value, this.index++, inner);
  }

  /** Flushes finished heads and starts waiting values until neither can progress. */
  private drain(): void {
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = true;
    do {
      this.again = false;
      if (this.plan.ordered) this.flush();
      while (this.waiting.length > 0) {
        const permit = this.admit();
        if (permit === null) break;
        this.startInner(this.waiting.shift(), permit);
      }
    } while (this.again);
    this.draining = false;
    if (this.sourceDone && this.inners.size === 0 && this.waiting.length === 0) this.finish();
  }

  /** Ordered: emits the held values of the head, then of each next one, while heads are done. */
  private flush(): void {
    const { destination } = this;
    let head: Inner<R> | null;
    while ((head = this.inners.first) !== null) {
      if (!head.live) {
        const values = head.values;
        // An inner emitting re-entrantly while we flush appends to `values`: the loop sees it.
        for (let i = 0; values !== null && i < values.length && !destination.closed; i++) {
          destination.next(values[i]);
        }
        head.values = null;
        head.live = true;
      }
      if (!head.done) return;
      this.inners.remove(head);
    }
  }

  private finish(): void {
    const { errors } = this;
    if (errors === null) {
      this.destination.complete();
      return;
    }
    this.errors = null;
    const failed = errors.length === 1 ? '1 inner' : `${errors.length} inners`;
    this.destination.error(new AggregateError(errors, `fanOut: ${failed} failed`));
  }

  private dispose(): void {
    this.waiting.clear();
    this.errors = null;
    this.inners.dispose();
  }
}
