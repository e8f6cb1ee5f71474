import { Observable, Subject, type SchedulerLike } from 'rxjs';
import { EventStream, type WithoutAt } from '../internal/EventStream.js';
import type { LockEvent } from './LockBackend.js';

/**
 * A lock backend's `events$` and the clock that times waits and holds: one per backend object,
 * shared by its leases. Every method builds its event only while someone listens. Internal.
 */
export class LockEvents {
  private readonly stream: EventStream<LockEvent>;
  readonly events$: Observable<LockEvent>;

  constructor(readonly scheduler: Pick<SchedulerLike, 'now'>) {
    this.stream = new EventStream<LockEvent>(scheduler);
    this.events$ = this.stream.events$;
  }

  /** True while at least one subscriber listens. */
  get observed(): boolean {
    return this.stream.observed;
  }

  /**
   * An acquire of `key` begun at `startedAt` (scheduler time; omitted: within this call, so
   * `waitedMs` 0) ended in `LockTimeoutError`.
   */
  timeout(key: string, startedAt?: number): void {
    if (!this.stream.observed) return;
    const waitedMs = startedAt === undefined ? 0 : this.scheduler.now() - startedAt;
    this.stream.emit({ type: 'timeout', key, waitedMs });
  }

  /** Stamps and delivers `event` (a no-op with no subscriber). */
  emit(event: WithoutAt<LockEvent>): void {
    this.stream.emit(event);
  }
}

/** What a lease event names. */
interface LeaseIdentity {
  readonly key: string;
  readonly fence: bigint;
}

/**
 * The end of a lease, shared by every backend's lease class: `lost$` errors once when the lease
 * is lost and completes once when it is released; late subscribers get that final notification
 * at once. Once {@link announce}d (handed to its caller) it reports the lease on its backend's
 * `events$`: `acquired` first, then `extended`, and `released` or `lost` exactly once, each
 * before `lost$` completes or errors. A lease that never reached a caller (acquired after its
 * wait ended, confirmed too late) reports nothing. Internal.
 */
export class LeaseEnd {
  readonly lost$: Observable<never>;
  private state: 'held' | 'lost' | 'released' = 'held';
  private error: Error | undefined;
  private readonly subject = new Subject<never>();
  private events: LockEvents | undefined;
  private lease: LeaseIdentity | undefined;
  private grantedAt = 0;

  constructor() {
    this.lost$ = new Observable<never>((subscriber) => {
      if (this.state === 'lost') subscriber.error(this.error);
      else if (this.state === 'released') subscriber.complete();
      else return this.subject.subscribe(subscriber);
      return undefined;
    });
  }

  get held(): boolean {
    return this.state === 'held';
  }

  get lost(): boolean {
    return this.state === 'lost';
  }

  /** The error `lost$` errored with, once lost. */
  get lostError(): Error | undefined {
    return this.error;
  }

  /**
   * The lease reaches its caller now: emits `acquired` (waited since `startedAt`, scheduler time;
   * omitted: granted within the acquire call, `waitedMs` 0) and reports its end from then on.
   * The grant time is kept even while nobody listens: a subscriber that comes during the hold
   * still gets a true `heldMs`.
   */
  announce(events: LockEvents, lease: LeaseIdentity, startedAt?: number): void {
    this.events = events;
    this.lease = lease;
    this.grantedAt = events.scheduler.now();
    if (!events.observed || this.state !== 'held') return;
    const waitedMs = startedAt === undefined ? 0 : this.grantedAt - startedAt;
    events.emit({ type: 'acquired', key: lease.key, fence: lease.fence, waitedMs });
  }

  /** An extend of the lease was confirmed: emits `extended` while held. */
  extended(): void {
    const { events, lease } = this;
    if (!events?.observed || lease === undefined || this.state !== 'held') return;
    events.emit({ type: 'extended', key: lease.key, fence: lease.fence });
  }

  /** Marks the lease lost and errors `lost$`. Returns false if it had already ended. */
  lose(error: Error): boolean {
    if (this.state !== 'held') return false;
    this.state = 'lost';
    this.error = error;
    const { events, lease } = this;
    if (events?.observed && lease !== undefined) {
      events.emit({ type: 'lost', key: lease.key, fence: lease.fence, error });
    }
    this.subject.error(error);
    return true;
  }

  /** Marks the lease released and completes `lost$`. Returns false if it had already ended. */
  release(): boolean {
    if (this.state !== 'held') return false;
    this.state = 'released';
    const { events, lease } = this;
    if (events?.observed && lease !== undefined) {
      const heldMs = events.scheduler.now() - this.grantedAt;
      events.emit({ type: 'released', key: lease.key, fence: lease.fence, heldMs });
    }
    this.subject.complete();
    return true;
  }
}
