import { Subscription, type Subscriber } from 'rxjs';
import type { Permit } from '../ConcurrencyLimit.js';

/** The run an {@link Inner} reports to. */
export interface InnerOwner<R> {
  readonly destination: Subscriber<R>;
  innerDone(inner: Inner<R>): void;
  innerFailed(inner: Inner<R>, error: unknown): void;
}

/**
 * One `work` inner. It is the subscriber RxJS sees (a `Subscription` with `next`/`error`/
 * `complete` is used as is, so an inner costs one object) and a node in its run's list of
 * inners, in start order.
 */
export class Inner<R> extends Subscription {
  before: Inner<R> | null = null;
  after: Inner<R> | null = null;
  /** Finished (completed, or failed in collect mode) but possibly not yet flushed. */
  done = false;
  /** Values held back while an ordered inner is not yet at the head. */
  values: R[] | null = null;

  constructor(
    readonly owner: InnerOwner<R>,
    /** Held until the inner ends; null once released. */
    public permit: Permit | null,
    /** Emits straight through: unordered, or the ordered head once its held values are out. */
    public live: boolean,
  ) {
    super();
  }

  next(value: R): void {
    if (this.closed) return;
    if (this.live) this.owner.destination.next(value);
    else (this.values ??= []).push(value);
  }

  error(error: unknown): void {
    if (this.closed) return;
    this.unsubscribe();
    this.owner.innerFailed(this, error);
  }

  complete(): void {
    if (this.closed) return;
    this.unsubscribe();
    this.owner.innerDone(this);
  }

  /** Releases the permit once; later calls do nothing. */
  release(outcome: 'success' | 'dropped' | 'ignored'): void {
    const permit = this.permit;
    if (permit === null) return;
    this.permit = null;
    permit.release(outcome);
  }
}

/** A doubly linked list of inners in start order: O(1) add and remove, no array churn. */
export class InnerList<R> {
  first: Inner<R> | null = null;
  private last: Inner<R> | null = null;
  size = 0;

  push(inner: Inner<R>): void {
    inner.before = this.last;
    if (this.last === null) this.first = inner;
    else this.last.after = inner;
    this.last = inner;
    this.size++;
  }

  remove(inner: Inner<R>): void {
    const { before, after } = inner;
    if (before === null) this.first = after;
    else before.after = after;
    if (after === null) this.last = before;
    else after.before = before;
    inner.before = inner.after = null;
    this.size--;
  }

  /** Empties the list, unsubscribing every inner and releasing its permit as 'ignored'. */
  dispose(): void {
    let inner = this.first;
    this.first = this.last = null;
    this.size = 0;
    while (inner !== null) {
      const after = inner.after;
      inner.before = inner.after = null;
      inner.unsubscribe();
      inner.release('ignored');
      inner = after;
    }
  }
}
