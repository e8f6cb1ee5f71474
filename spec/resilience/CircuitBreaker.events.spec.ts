import { expect } from 'chai';
import { EMPTY, catchError, map, mergeMap, type Subscription } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { EventStream } from '../../lib/internal/EventStream.js';
import {
  CircuitBreaker,
  circuitBreaker,
  type CircuitBreakerConfig,
  type CircuitBreakerEvent,
  type CircuitState,
} from '../../lib/resilience/index.js';
import { createTestScheduler } from '../../lib/testing/index.js';
import { ManualClock } from './manualClock.js';

/** A promise the spec settles by hand, so a call's duration is set by `clock.advance`. */
function deferred(): { promise: Promise<number>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<number>((res, rej) => {
    resolve = () => res(1);
    reject = rej;
  });
  return { promise, resolve, reject };
}

const boom = new Error('boom');
const fail = () => Promise.reject(boom);
const ok = () => Promise.resolve(1);

describe('CircuitBreaker events$', () => {
  let clock: ManualClock;
  let events: CircuitBreakerEvent[];
  let subscription: Subscription | undefined;
  const create = (config: CircuitBreakerConfig = {}) =>
    new CircuitBreaker({ scheduler: clock, ...config });
  const watch = (b: CircuitBreaker) => {
    subscription = b.events$.subscribe((e) => events.push(e));
  };
  beforeEach(() => {
    clock = new ManualClock();
    events = [];
  });
  afterEach(() => subscription?.unsubscribe());

  it('reports success and failure with durationMs, then the opening, each with at', async () => {
    const b = create({ failureThreshold: 2, openMs: 100 });
    watch(b);
    clock.advance(10);
    const first = deferred();
    const call = b.execute(() => first.promise);
    clock.advance(30);
    first.resolve();
    await call;
    const second = deferred();
    const failing = b.execute(() => second.promise);
    clock.advance(5);
    second.reject(boom);
    await failing.catch(() => undefined);
    await b.execute(fail).catch(() => undefined);
    expect(events).to.deep.equal([
      { type: 'success', durationMs: 30, at: 40 },
      { type: 'failure', durationMs: 5, error: boom, at: 45 },
      { type: 'failure', durationMs: 0, error: boom, at: 45 },
      { type: 'state', from: 'closed', to: 'open', at: 45 },
    ]);
  });

  it('reports a synchronous throw of fn as a failure', async () => {
    const b = create();
    watch(b);
    const error = new Error('sync');
    await b
      .execute(() => {
        throw error;
      })
      .catch(() => undefined);
    expect(events).to.deep.equal([{ type: 'failure', durationMs: 0, error, at: 0 }]);
  });

  it('reports an error isFailure rejects as ignored, with no state change', async () => {
    const skip = new Error('skip');
    const b = create({ failureThreshold: 1, isFailure: (e) => e !== skip });
    watch(b);
    clock.advance(7);
    await b.execute(() => Promise.reject(skip)).catch(() => undefined);
    expect(events).to.deep.equal([{ type: 'ignored', error: skip, at: 7 }]);
    expect(b.state).to.equal('closed');
  });

  it('reports refusals with the state of their BrokenCircuitError: open, half-open, isolated', async () => {
    const b = create({ failureThreshold: 1, openMs: 100 });
    watch(b);
    await b.execute(fail).catch(() => undefined);
    clock.advance(20);
    await b.execute(ok).catch(() => undefined);
    clock.advance(80); // the timer: open → half-open at 100
    const trial = deferred();
    const trialCall = b.execute(() => trial.promise);
    await b.execute(ok).catch(() => undefined); // the one trial is in flight
    clock.advance(3);
    trial.resolve();
    await trialCall;
    const hold = b.isolate();
    await b.execute(ok).catch(() => undefined);
    hold.dispose();
    expect(events).to.deep.equal([
      { type: 'failure', durationMs: 0, error: boom, at: 0 },
      { type: 'state', from: 'closed', to: 'open', at: 0 },
      { type: 'rejected', state: 'open', at: 20 },
      { type: 'state', from: 'open', to: 'half-open', at: 100 },
      { type: 'rejected', state: 'half-open', at: 100 },
      { type: 'success', durationMs: 3, at: 103 },
      { type: 'state', from: 'half-open', to: 'closed', at: 103 },
      { type: 'state', from: 'closed', to: 'open', at: 103 },
      { type: 'rejected', state: 'isolated', at: 103 },
      { type: 'state', from: 'open', to: 'closed', at: 103 },
    ]);
    expect(b.stats()).to.include({ rejected: 3, successes: 1, failures: 1 });
  });

  it('reports the timed transitions at their due time while only events$ is observed', async () => {
    const b = create({ failureThreshold: 1, openMs: 50, halfOpenMaxMs: 20 });
    await b.execute(fail).catch(() => undefined);
    watch(b);
    expect(clock.pending).to.equal(1); // events$ alone keeps the timer
    clock.advance(500); // one jump: each transition still at its due time
    const trial = b.execute(() => new Promise(() => undefined));
    clock.advance(500);
    void trial;
    expect(events).to.deep.equal([
      { type: 'state', from: 'open', to: 'half-open', at: 50 },
      { type: 'state', from: 'half-open', to: 'open', at: 520 }, // halfOpenMaxMs after the trial
      { type: 'state', from: 'open', to: 'half-open', at: 570 },
    ]);
    subscription?.unsubscribe();
    expect(clock.pending).to.equal(0);
  });

  it('state events follow state$, also when an observer causes a transition while told', async () => {
    const b = create({ failureThreshold: 1, openMs: 10 });
    const states: CircuitState[] = [];
    const told: string[] = [];
    b.state$.subscribe((s) => {
      states.push(s);
      if (s === 'half-open') b.reset(); // a transition inside the announcement of another
    });
    b.events$.subscribe((e) => {
      if (e.type === 'state') told.push(`${e.from}>${e.to}@${e.at}`);
    });
    await b.execute(fail).catch(() => undefined);
    clock.advance(10);
    b.isolate().dispose();
    b.reset(); // already closed: no transition, no event
    expect(states).to.deep.equal(['closed', 'open', 'half-open', 'closed', 'open', 'closed']);
    expect(told).to.deep.equal([
      'closed>open@0',
      'open>half-open@10',
      'half-open>closed@10',
      'closed>open@10',
      'open>closed@10',
    ]);
  });

  it('reports a slow success as success (and the opening it causes) even if timed unobserved', async () => {
    const b = create({ failureThreshold: 1, slowCallMs: 10 });
    const slow = deferred();
    const call = b.execute(() => slow.promise); // admitted unobserved: timed for slowCallMs
    watch(b);
    clock.advance(12);
    slow.resolve();
    await call;
    expect(events).to.deep.equal([
      { type: 'success', durationMs: 12, at: 12 },
      { type: 'state', from: 'closed', to: 'open', at: 12 },
    ]);
    expect(b.stats()).to.include({ slowCalls: 1 });
  });

  it('unobserved: builds no event and reads no clock; a later subscriber sees only later events', async () => {
    const b = create({ failureThreshold: 1000 });
    const reads = { now: 0, emits: 0 };
    const now = clock.now.bind(clock);
    clock.now = () => (reads.now++, now());
    const emit = EventStream.prototype.emit;
    EventStream.prototype.emit = function (this: EventStream<never>, event: never) {
      reads.emits++;
      emit.call(this, event);
    };
    try {
      for (let i = 0; i < 20; i++) await b.execute(i % 2 === 0 ? ok : fail).catch(() => undefined);
      const early = deferred();
      const earlyCall = b.execute(() => early.promise); // admitted while nobody watched
      expect(reads).to.deep.equal({ now: 0, emits: 0 });
      watch(b);
      clock.advance(4);
      early.resolve();
      await earlyCall; // its start was not read: no duration, no event
      await b.execute(fail).catch(() => undefined);
      expect(events).to.deep.equal([{ type: 'failure', durationMs: 0, error: boom, at: 4 }]);
      expect(b.stats()).to.include({ successes: 11, failures: 11 });
    } finally {
      EventStream.prototype.emit = emit;
    }
  });

  it('stops delivering when unsubscribed, and other subscribers keep theirs', async () => {
    const b = create({ failureThreshold: 2 });
    watch(b);
    const other: string[] = [];
    const otherSub = b.events$.subscribe((e) => other.push(e.type));
    await b.execute(ok);
    subscription?.unsubscribe();
    await b.execute(fail).catch(() => undefined);
    otherSub.unsubscribe();
    await b.execute(fail).catch(() => undefined);
    expect(events.map((e) => e.type)).to.deep.equal(['success']);
    expect(other).to.deep.equal(['success', 'failure']);
    expect(b.state).to.equal('open');
  });

  it('starts from the restored state: the first state event is from it', () => {
    const b = create({ initialState: { state: 'open', openings: 2, halfOpenAt: 30 } });
    watch(b);
    clock.advance(30);
    expect(events).to.deep.equal([{ type: 'state', from: 'open', to: 'half-open', at: 30 }]);
  });

  describe('through the circuitBreaker operator (virtual time)', () => {
    let scheduler: TestScheduler;
    beforeEach(() => {
      scheduler = createTestScheduler();
    });
    const summary = (e: CircuitBreakerEvent): string => {
      switch (e.type) {
        case 'success':
          return `success ${e.durationMs}@${e.at}`;
        case 'failure':
          return `failure ${e.durationMs} ${String(e.error)}@${e.at}`;
        case 'ignored':
          return `ignored ${String(e.error)}@${e.at}`;
        case 'rejected':
          return `rejected ${e.state}@${e.at}`;
        case 'state':
          return `${e.from}>${e.to}@${e.at}`;
      }
    };

    it('reports each call at the frame of its outcome and a refusal at subscribe', () => {
      scheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
        const b = new CircuitBreaker({
          scheduler,
          failureThreshold: 2,
          openMs: 10,
          isFailure: (e) => e !== 'skip',
        });
        const calls = {
          a: cold('--a|'),
          s: cold('-#', undefined, 'skip'),
          x: cold('---#', undefined, 'bad'),
          r: cold('--a|'),
          t: cold('--a|'),
        };
        const starts = hot<keyof typeof calls>('-a--s-x-x------r-------t');
        starts
          .pipe(
            mergeMap((k) =>
              calls[k].pipe(
                circuitBreaker(b),
                catchError(() => EMPTY),
              ),
            ),
          )
          .subscribe();
        expectObservable(b.events$.pipe(map(summary)), '^' + '-'.repeat(29) + '!').toBe(
          '----ab---c-(de)f-----g----(hi)',
          {
            a: 'success 3@4',
            b: 'ignored skip@5',
            c: 'failure 3 bad@9',
            d: 'failure 3 bad@11',
            e: 'closed>open@11',
            f: 'rejected open@15',
            g: 'open>half-open@21', // the timer events$ keeps
            h: 'success 3@26',
            i: 'half-open>closed@26',
          },
        );
        expectSubscriptions(calls.a.subscriptions).toBe('-^--!');
        expectSubscriptions(calls.r.subscriptions).toBe([]); // refused before subscribing
        expectSubscriptions(calls.t.subscriptions).toBe('-----------------------^--!');
      });
    });

    it('reports a first-value success at the value, and nothing for an unsubscribed call', () => {
      scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const b = new CircuitBreaker({ scheduler });
        const first = cold('-a--#', undefined, 'late');
        const cancelled = cold('-----a|');
        const guarded = first.pipe(circuitBreaker(b, { successOn: 'first-value' }));
        // Subscribed first, so the calls below are admitted while events$ is observed.
        expectObservable(b.events$.pipe(map(summary)), '^---------!').toBe('-a', {
          a: 'success 1@1', // the later error passes unrecorded; the cancelled call reports nothing
        });
        expectObservable(guarded.pipe(catchError(() => EMPTY)), '^---------!').toBe('-a--|');
        expectObservable(cancelled.pipe(circuitBreaker(b)), '^--!').toBe('---');
        expectSubscriptions(first.subscriptions).toBe('^---!');
        expectSubscriptions(cancelled.subscriptions).toBe('^--!');
      });
    });

    it('does not report a call admitted before events$ was subscribed', () => {
      scheduler.run(({ cold, expectObservable }) => {
        const b = new CircuitBreaker({ scheduler });
        const early = cold('--a|');
        const later = cold('---a|');
        expectObservable(early.pipe(circuitBreaker(b)), '^----!').toBe('--a|');
        expectObservable(b.events$.pipe(map(summary)), '-^------!').toBe('-----a', {
          a: 'success 4@5',
        });
        expectObservable(later.pipe(circuitBreaker(b)), '-^-----!').toBe('----a|');
      });
    });
  });
});
