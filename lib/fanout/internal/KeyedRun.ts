import { Subscription, type Observable, type ObservableInput, type Subscriber } from 'rxjs';
import { BufferOverflowError } from '../../errors.js';
import type { Permit } from '../ConcurrencyLimit.js';
import { FIXED_PERMIT, type Concurrency } from './concurrency.js';
import { Inner, InnerList, type InnerOwner } from './Inner.js';
import { subscribeWork } from './subscribeInner.js';

/** A validated `fanOutByKey` configuration. */
export interface KeyedPlan<T, K, R> {
  readonly keyOf: (value: T) => K;
  readonly work: (value: T, index: number) => ObservableInput<R>;
  readonly concurrency: Concurrency;
  readonly maxBuffered: number;
  readonly overflow: 'error' | 'drop-newest' | 'drop-oldest';
}

/** One key's lane: at most one running inner, and its waiting values in arrival order. */
class Lane<T, K> {
  running = false;
  head: Waiting<T, K> | null = null;
  tail: Waiting<T, K> | null = null;
  /** In the ready list: idle, with values waiting for a free worker. */
  ready = false;
  readyBefore: Lane<T, K> | null = null;
  readyAfter: Lane<T, K> | null = null;

  constructor(readonly key: K) {}
}

/** A waiting value: in its lane's chain and in the run-wide arrival list (for drop-oldest). */
class Waiting<T, K> {
  nextInLane: Waiting<T, K> | null = null;
  older: Waiting<T, K> | null = null;
  newer: Waiting<T, K> | null = null;

  constructor(
    readonly value: T,
    readonly lane: Lane<T, K>,
  ) {}
}

class KeyedInner<R, T, K> extends Inner<R> {
  constructor(
    owner: InnerOwner<R>,
    permit: Permit,
    readonly lane: Lane<T, K>,
  ) {
    super(owner, permit, true);
  }
}

/**
 * The state of one `fanOutByKey` subscription. A lane exists only while its key has a running
 * inner or waiting values, so the map of lanes shrinks back to empty. Idle lanes with waiting
 * values queue for a free worker first come, first served (a lane that just finished goes to
 * the back). Every list is linked, so each step is O(1), and a drain loop starts work.
 */
export class KeyedRun<T, K, R> extends Subscription implements InnerOwner<R> {
  /** Lanes by key; exposed for the spec that proves it empties. */
  readonly lanes = new Map<K, Lane<T, K>>();
  private readonly inners = new InnerList<R>();
  private oldest: Waiting<T, K> | null = null;
  private newest: Waiting<T, K> | null = null;
  private waitingCount = 0;
  private readyFirst: Lane<T, K> | null = null;
  private readyLast: Lane<T, K> | null = null;
  private index = 0;
  private sourceDone = false;
  private draining = false;
  private again = false;

  constructor(
    readonly destination: Subscriber<R>,
    private readonly plan: KeyedPlan<T, K, R>,
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

  next(value: T): void {
    if (this.closed) return;
    let key: K;
    try {
      key = this.plan.keyOf(value);
    } catch (error) {
      this.destination.error(error);
      return;
    }
    if (!this.lanes.has(key) && !this.draining && this.readyFirst === null) {
      const permit = this.admit();
      if (permit !== null) {
        const lane = new Lane<T, K>(key);
        this.lanes.set(key, lane);
        this.startLane(lane, value, permit);
        return;
      }
    }
    this.enqueue(key, value);
  }

  error(error: unknown): void {
    if (this.closed) return;
    this.destination.error(error);
  }

  complete(): void {
    if (this.closed) return;
    this.sourceDone = true;
    this.unsubscribe();
    this.drain();
  }

  innerDone(inner: Inner<R>): void {
    this.inners.remove(inner);
    inner.release('success');
    const { lane } = inner as KeyedInner<R, T, K>;
    lane.running = false;
    if (lane.head !== null) this.pushReady(lane);
    else this.lanes.delete(lane.key);
    this.drain();
  }

  innerFailed(inner: Inner<R>, error: unknown): void {
    this.inners.remove(inner);
    inner.release('dropped');
    this.destination.error(error);
  }

  private admit(): Permit | null {
    const { max, limiter } = this.plan.concurrency;
    if (limiter === null) return this.inners.size < max ? FIXED_PERMIT : null;
    return limiter.tryAcquire();
  }

  private enqueue(key: K, value: T): void {
    const { maxBuffered, overflow } = this.plan;
    if (this.waitingCount >= maxBuffered) {
      if (overflow === 'error') {
        this.destination.error(new BufferOverflowError(maxBuffered));
        return;
      }
      if (overflow === 'drop-newest' || this.waitingCount === 0) return;
      this.dropOldest();
    }
    let lane = this.lanes.get(key);
    if (lane === undefined) {
      lane = new Lane<T, K>(key);
      this.lanes.set(key, lane);
    }
    const waiting = new Waiting(value, lane);
    if (lane.tail === null) lane.head = waiting;
    else lane.tail.nextInLane = waiting;
    lane.tail = waiting;
    waiting.older = this.newest;
    if (this.newest === null) this.oldest = waiting;
    else this.newest.newer = waiting;
    this.newest = waiting;
    this.waitingCount++;
    if (!lane.running && !lane.ready) this.pushReady(lane);
  }

  /** Takes the first waiting value of a lane (the oldest of that lane) out of both lists. */
  private takeHead(lane: Lane<T, K>): T {
    const waiting = lane.head as Waiting<T, K>;
    lane.head = waiting.nextInLane;
    if (lane.head === null) lane.tail = null;
    const { older, newer } = waiting;
    if (older === null) this.oldest = newer;
    else older.newer = newer;
    if (newer === null) this.newest = older;
    else newer.older = older;
    this.waitingCount--;
    return waiting.value;
  }

  /** The oldest waiting value overall is the head of its lane: drop it. */
  private dropOldest(): void {
    const { lane } = this.oldest as Waiting<T, K>;
    this.takeHead(lane);
    if (lane.head !== null) return;
    if (lane.ready) this.removeReady(lane);
    if (!lane.running) this.lanes.delete(lane.key);
  }

  private pushReady(lane: Lane<T, K>): void {
    lane.ready = true;
    lane.readyBefore = this.readyLast;
    if (this.readyLast === null) this.readyFirst = lane;
    else this.readyLast.readyAfter = lane;
    this.readyLast = lane;
  }

  private removeReady(lane: Lane<T, K>): void {
    const { readyBefore, readyAfter } = lane;
    if (readyBefore === null) this.readyFirst = readyAfter;
    else readyBefore.readyAfter = readyAfter;
    if (readyAfter === null) this.readyLast = readyBefore;
    else readyAfter.readyBefore = readyBefore;
    lane.ready = false;
    lane.readyBefore = lane.readyAfter = null;
  }

  private startLane(lane: Lane<T, K>, value: T, permit: Permit): void {
    lane.running = true;
    const inner = new KeyedInner<R, T, K>(this, permit, lane);
    this.inners.push(inner);
    subscribeWork(this.plan.work, value, this.index++, inner);
  }

  private drain(): void {
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = true;
    do {
      this.again = false;
      let lane: Lane<T, K> | null;
      while ((lane = this.readyFirst) !== null) {
        const permit = this.admit();
        if (permit === null) break;
        this.removeReady(lane);
        this.startLane(lane, this.takeHead(lane), permit);
      }
    } while (this.again);
    this.draining = false;
    if (this.sourceDone && this.inners.size === 0 && this.waitingCount === 0) {
      this.destination.complete();
    }
  }

  private dispose(): void {
    this.lanes.clear();
    this.oldest = this.newest = null;
    this.readyFirst = this.readyLast = null;
    this.waitingCount = 0;
    this.inners.dispose();
  }
}
