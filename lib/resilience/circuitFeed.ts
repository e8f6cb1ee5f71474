import { Observable, Subject, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
import { EventStream } from '../internal/EventStream.js';
import { scheduleOnce } from '../internal/scheduler.js';
import { MAX_TIMER_MS } from '../internal/validate.js';
import type { CircuitBreakerEvent, CircuitPhase, CircuitState } from './circuitBreakerTypes.js';

/** What the feed needs of its breaker (closures over its private state, not public methods). */
export interface TimedTransitions {
  /** Applies the timed transitions that are due (each announced through the feed). */
  refresh(): void;
  /** The breaker's current phase (its timed transition is due at `dueAt(phase)`). */
  phase(): CircuitPhase;
}

/**
 * The observable side of a `CircuitBreaker`: its `state$` and `events$`. Announces transitions
 * in order, also when an observer causes another one while being told, and keeps one timer
 * while either stream is observed and a timed transition is pending, so both report it on time.
 * With nobody observing there is no timer: the breaker finds timed transitions at its next call.
 */
export class CircuitFeed {
  /** The current state first, then every transition (no repeats). */
  readonly state$: Observable<CircuitState>;
  /** Hot, no replay: see `CircuitBreakerEvent`. Subscribing applies due transitions first. */
  readonly events$: Observable<CircuitBreakerEvent>;
  /** Where the breaker emits its call events (test `observed` before building one). */
  readonly events: EventStream<CircuitBreakerEvent>;

  private readonly transitions = new Subject<CircuitState>();
  private readonly pending: CircuitState[] = [];
  private announcing = false;
  private observers = 0;
  private timer: Subscription | null = null;

  constructor(
    private readonly scheduler: SchedulerLike,
    private readonly breaker: TimedTransitions,
    private announced: CircuitState,
  ) {
    this.events = new EventStream<CircuitBreakerEvent>(scheduler);
    this.state$ = this.observe((subscriber) => {
      subscriber.next(this.announced);
      return this.transitions.subscribe(subscriber);
    });
    this.events$ = this.observe((subscriber) => this.events.events$.subscribe(subscriber));
  }

  /** Emits transitions in order (a `state` event, then `state$`), skipping repeats. */
  announce(state: CircuitState): void {
    this.pending.push(state);
    if (this.announcing) return;
    this.announcing = true;
    for (let next = this.pending.shift(); next !== undefined; next = this.pending.shift()) {
      if (next === this.announced) continue;
      const from = this.announced;
      this.announced = next;
      if (this.events.observed) this.events.emit({ type: 'state', from, to: next });
      this.transitions.next(next);
    }
    this.announcing = false;
  }

  /** The breaker entered a phase whose public state is `state`: re-arm the timer, announce. */
  enter(state: CircuitState): void {
    this.disarm();
    this.arm();
    this.announce(state);
  }

  /**
   * One timer, only while `state$` or `events$` is observed and a timed transition is pending.
   * Re-armed on every transition (`enter`), as the due time moves.
   */
  arm(): void {
    if (this.timer !== null || this.observers === 0) return;
    const at = dueAt(this.breaker.phase());
    if (at === Number.POSITIVE_INFINITY) return;
    // At most the longest timer: a longer one would fire at once; this one fires, finds time
    // left (refresh does nothing) and re-arms.
    const delay = Math.min(at - this.scheduler.now(), MAX_TIMER_MS);
    this.timer = scheduleOnce(this.scheduler, delay, () => {
      this.timer = null;
      this.breaker.refresh();
      this.arm();
    });
  }

  /** Drops the timer (the breaker re-arms it for its new state). */
  disarm(): void {
    this.timer?.unsubscribe();
    this.timer = null;
  }

  /** An Observable that applies due transitions first and counts as an observer while subscribed. */
  private observe<E>(attach: (subscriber: Subscriber<E>) => Subscription): Observable<E> {
    return new Observable<E>((subscriber) => {
      this.breaker.refresh();
      const subscription = attach(subscriber);
      this.observers++;
      this.arm();
      return () => {
        subscription.unsubscribe();
        if (--this.observers === 0) this.disarm();
      };
    });
  }
}

/** Scheduler time of a phase's timed transition (open → half-open, half-open → open), or Infinity. */
function dueAt(phase: CircuitPhase): number {
  if (phase.kind === 'open') return phase.halfOpenAt;
  return phase.kind === 'half-open' ? phase.deadline : Number.POSITIVE_INFINITY;
}
