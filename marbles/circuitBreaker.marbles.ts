import { expect } from 'chai';
import { Observable, catchError, mergeMap, of, take, takeUntil, throwError, timer } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { createTestScheduler } from '../lib/testing/index.js';
import { isBrokenCircuitError } from '../lib/errors.js';
import { CircuitBreaker, type CircuitBreakerConfig } from '../lib/resilience/CircuitBreaker.js';
import {
  circuitBreaker,
  type CircuitBreakerOperatorConfig,
} from '../lib/resilience/circuitBreakerOperator.js';

/** A call's observable outcome as one letter: its values, F (failed) or R (refused). */
const outcome = (call$: Observable<string>): Observable<string> =>
  call$.pipe(catchError((e: unknown) => of(isBrokenCircuitError(e) ? 'R' : 'F')));

/**
 * Starts the cold call `calls[k]` through the breaker when `starts` emits `k`; every call's
 * outcome letters are merged into one stream.
 */
function run(
  breaker: CircuitBreaker,
  starts: Observable<string>,
  calls: Record<string, Observable<string>>,
  config?: CircuitBreakerOperatorConfig<string>,
): Observable<string> {
  return starts.pipe(mergeMap((k) => outcome(calls[k].pipe(circuitBreaker(breaker, config)))));
}

const states = { c: 'closed', o: 'open', h: 'half-open' } as const;

describe('circuitBreaker (marbles)', () => {
  let scheduler: TestScheduler;
  const breaker = (config: CircuitBreakerConfig) => new CircuitBreaker({ scheduler, ...config });
  beforeEach(() => {
    scheduler = createTestScheduler();
  });

  it('opens at failureThreshold consecutive failures and refuses synchronously', () => {
    scheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const b = breaker({ failureThreshold: 3, openMs: 100 });
      const x = cold('-#');
      const y = cold('-#');
      const z = cold('-#');
      const w = cold('-a|');
      const starts = hot('x-y-z-w', { x: 'x', y: 'y', z: 'z', w: 'w' });
      expectObservable(run(b, starts, { x, y, z, w })).toBe('-F-F-FR');
      expectSubscriptions(x.subscriptions).toBe('^!');
      expectSubscriptions(z.subscriptions).toBe('----^!');
      expectSubscriptions(w.subscriptions).toBe([]); // refused before subscribing
      expectObservable(b.state$, '^-------!').toBe('c----o', states);
    });
  });

  it('a success resets the consecutive count', () => {
    scheduler.run(({ cold, hot, expectObservable }) => {
      const b = breaker({ failureThreshold: 2, openMs: 100 });
      const f = cold('-#');
      const s = cold('-a|');
      const starts = hot('f-s-f-f-s', { f: 'f', s: 's' });
      expectObservable(run(b, starts, { f, s })).toBe('-F-a-F-FR');
    });
  });

  it('the refusal carries the state and the time until half-open', () => {
    scheduler.run(({ cold, hot, expectObservable }) => {
      const b = breaker({ failureThreshold: 1, openMs: 10 });
      const starts = hot('f---r', { f: 'f', r: 'r' });
      const calls = { f: cold('-#'), r: cold('-a|') };
      const errors = starts.pipe(
        mergeMap((k) =>
          calls[k as 'f' | 'r'].pipe(
            circuitBreaker(b),
            catchError((e: unknown) =>
              of(isBrokenCircuitError(e) ? `${e.state}:${e.retryAfterMs}` : 'F'),
            ),
          ),
        ),
      );
      expectObservable(errors).toBe('-F--x', { F: 'F', x: 'open:7' });
    });
  });

  it('turns half-open after openMs, then a trial success closes it', () => {
    scheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const b = breaker({ failureThreshold: 1, openMs: 10 });
      const f = cold('-#');
      const early = cold('-a|');
      const trial = cold('--b|');
      const after = cold('c|');
      const starts = hot('f----e-----t---a', { f: 'f', e: 'early', t: 'trial', a: 'after' });
      expectObservable(run(b, starts, { f, early, trial, after })).toBe('-F---R-------b-c');
      expectSubscriptions(early.subscriptions).toBe([]);
      expectSubscriptions(trial.subscriptions).toBe('-----------^--!');
      expectObservable(b.state$).toBe('co---------h--c', states);
    });
  });

  it('state$ announces half-open on time while observed (one timer), without calls', () => {
    scheduler.run(({ cold, hot, expectObservable }) => {
      const b = breaker({ failureThreshold: 1, openMs: 5 });
      expectObservable(run(b, hot('f', { f: 'f' }), { f: cold('-#') })).toBe('-F');
      expectObservable(b.state$, '^---------!').toBe('co----h', states);
    });
  });

  it('admits exactly halfOpenMaxCalls trials at once; the rest are refused at once', () => {
    scheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const b = breaker({
        failureThreshold: 1,
        openMs: 4,
        halfOpenMaxCalls: 2,
        successThreshold: 3,
      });
      const f = cold('-#');
      const t1 = cold('---a|');
      const t2 = cold('-----b|');
      const t3 = cold('-c|');
      const t4 = cold('-d|');
      const t5 = cold('-e|');
      const starts = hot('f----(123)---4-5', {
        f: 'f',
        1: 't1',
        2: 't2',
        3: 't3',
        4: 't4',
        5: 't5',
      });
      expectObservable(run(b, starts, { f, t1, t2, t3, t4, t5 })).toBe('-F---R--a-b---d-e');
      expectSubscriptions(t1.subscriptions).toBe('-----^---!');
      expectSubscriptions(t2.subscriptions).toBe('-----^-----!');
      expectSubscriptions(t3.subscriptions).toBe([]);
      expectSubscriptions(t4.subscriptions).toBe('-------------^-!');
      // third trial success (t4 at 15) closes; t5 runs closed
      expectObservable(b.state$).toBe('co---h---------c', states);
    });
  });

  it('a trial failure reopens with the next backoff', () => {
    scheduler.run(({ cold, hot, expectObservable }) => {
      const b = breaker({ failureThreshold: 1, openMs: (n) => 3 * n });
      const f = cold('-#');
      const starts = hot('f---f-----f', { f: 'f' });
      // fails at 1 (open for 3), trial at 4 fails at 5 (open for 6 → 11), refused at 10
      expectObservable(run(b, starts, { f })).toBe('-F---F----R');
      expectObservable(b.state$).toBe('co--ho-----h', states);
    });
  });

  it('slow successes count as failures but still deliver their value', () => {
    scheduler.run(({ cold, hot, expectObservable }) => {
      const b = breaker({ failureThreshold: 2, openMs: 100, slowCallMs: 3 });
      const slow = cold('---a|');
      const quick = cold('-b|');
      const starts = hot('sq--s-s-----q', { s: 'slow', q: 'quick' });
      // slow (0..4) fails after quick (1..3) succeeded; slows ending at 8 and 10: the first
      // opens the circuit, the second is stale; the last call is refused
      expectObservable(run(b, starts, { slow, quick })).toBe('--ba---a-a--R');
      expectObservable(b.state$, '^---------!').toBe('c-------o', states);
    });
  });

  it('time window: opens on failureRate once minimumCalls are in the window', () => {
    scheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const b = breaker({
        window: { type: 'time', ms: 10, buckets: 5 },
        failureRate: 0.5,
        minimumCalls: 4,
        openMs: 100,
      });
      const f = cold('#');
      const s = cold('a|');
      // 3 failures: below minimumCalls; the 4th call (a success) brings the window to
      // minimumCalls at 3/4 >= 0.5: the rate is checked after every outcome, so it opens.
      const starts = hot('fffs-f-s', { f: 'f', s: 's' });
      expectObservable(run(b, starts, { f, s })).toBe('FFFa-R-R');
      expectSubscriptions(f.subscriptions).toBe(['(^!)', '-(^!)', '--(^!)']);
      expectSubscriptions(s.subscriptions).toBe('---^!');
    });
  });

  it('count window: F F F S S at rate 0.5 opens at the second S, as resilience4j', () => {
    scheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const b = breaker({ window: { type: 'count', size: 5 }, failureRate: 0.5, openMs: 100 });
      const f = cold('#');
      const s = cold('a|');
      const starts = hot('fffss-sf', { f: 'f', s: 's' });
      expectObservable(run(b, starts, { f, s })).toBe('FFFaa-RR');
      expectSubscriptions(f.subscriptions).toBe(['(^!)', '-(^!)', '--(^!)']);
      expectSubscriptions(s.subscriptions).toBe(['---^!', '----^!']);
    });
  });

  it('time window: failures that aged out of the window no longer count', () => {
    scheduler.run(({ cold, hot, expectObservable }) => {
      const b = breaker({
        window: { type: 'time', ms: 10, buckets: 5 },
        failureRate: 0.6,
        minimumCalls: 3,
        openMs: 100,
      });
      const f = cold('#');
      const s = cold('a|');
      // f f at 0,1 age out by 12; at 12..14: s f f → 2/3 ≥ 0.6 → opens at 14
      const starts = hot('ff----------sff-s', { f: 'f', s: 's' });
      expectObservable(run(b, starts, { f, s })).toBe('FF----------aFF-R');
    });
  });

  it('count window: the last `size` calls decide', () => {
    scheduler.run(({ cold, hot, expectObservable }) => {
      const b = breaker({ window: { type: 'count', size: 4 }, failureRate: 0.75, openMs: 100 });
      const f = cold('#');
      const s = cold('a|');
      // window [f s f s] → 2/4; [s f s f]; then f f → [s f f f]... opens at 3/4 with 4 calls
      const starts = hot('fsfsfff', { f: 'f', s: 's' });
      expectObservable(run(b, starts, { f, s })).toBe('FaFaFFR');
    });
  });

  it('errors for which isFailure is false count as neither failure nor success', () => {
    scheduler.run(({ cold, hot, expectObservable }) => {
      const b = breaker({
        failureThreshold: 2,
        openMs: 3,
        isFailure: (e) => e !== 'not-found',
      });
      const f = cold('-#');
      const n = cold('-#', undefined, 'not-found');
      const s = cold('-a|');
      // f n f: the ignored error does not reset the consecutive count → opens at 5
      // half-open at 8: trial n (ignored) returns its slot; trial s closes
      const starts = hot('f-n-f---n-s--f', { f: 'f', n: 'n', s: 's' });
      expectObservable(run(b, starts, { f, n, s })).toBe('-F-F-F---F-a--F');
      expectObservable(b.state$).toBe('c----o--h---c', states);
    });
  });

  it('unsubscribing before an outcome returns the permit and records nothing', () => {
    scheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const b = breaker({ failureThreshold: 1, openMs: 2 });
      const f = cold('-#');
      const hang = cold('-----a|');
      const s = cold('-b|');
      const starts = hot('f--h--s', { f: 'f', h: 'hang', s: 's' });
      const calls = { f, hang, s };
      const result = starts.pipe(
        mergeMap((k) => {
          const call = outcome(calls[k as keyof typeof calls].pipe(circuitBreaker(b)));
          return k === 'hang' ? call.pipe(takeFor(scheduler, 2)) : call;
        }),
      );
      // the abandoned trial (3..5) frees its slot: the trial at 6 is admitted and closes
      expectObservable(result).toBe('-F-----b');
      expectSubscriptions(hang.subscriptions).toBe('---^-!');
      expectObservable(b.state$).toBe('co-h----c', states);
    });
  });

  it('ignores outcomes of calls admitted before the last transition (generation)', () => {
    scheduler.run(({ cold, hot, expectObservable }) => {
      const b = breaker({ failureThreshold: 1, openMs: 3 });
      const f = cold('-#');
      const late = cold('-------#'); // admitted closed at 0, fails at 7 while half-open
      const trial = cold('---a|');
      const starts = hot('(lf)-t', { l: 'late', f: 'f', t: 'trial' });
      expectObservable(run(b, starts, { f, late, trial })).toBe('-F-----Fa');
      expectObservable(b.state$).toBe('co--h----c', states);
    });
  });

  it('halfOpenMaxMs: a trial that does not resolve in time reopens the circuit', () => {
    scheduler.run(({ cold, hot, expectObservable }) => {
      const b = breaker({ failureThreshold: 1, openMs: 2, halfOpenMaxMs: 4 });
      const f = cold('-#');
      const hung = cold('----------a|');
      const s = cold('a|');
      const starts = hot('f--h-r---s', { f: 'f', h: 'hung', r: 's', s: 's' });
      // trial at 3 hangs; refused at 5 (slot taken); at 7 half-open expires → open till 9
      expectObservable(run(b, starts, { f, hung, s })).toBe('-F---R---a---a');
      expectObservable(b.state$).toBe('co-h---o-hc', states);
    });
  });

  it('fallback replaces refusals and recorded failures', () => {
    const b = breaker({ failureThreshold: 1, openMs: 100 });
    scheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const f = cold('-#');
      const s = cold('-a|');
      const starts = hot('f--s', { f: 'f', s: 's' });
      const fallback = (e: unknown) => of(isBrokenCircuitError(e) ? 'r' : 'x');
      expectObservable(run(b, starts, { f, s }, { fallback })).toBe('-x-r');
      expectSubscriptions(s.subscriptions).toBe([]);
    });
    expect(b.stats()).to.include({ failures: 1, rejected: 1 });
  });

  it("successOn: 'first-value' records success at the first value", () => {
    scheduler.run(({ cold, hot, expectObservable }) => {
      const b = breaker({ failureThreshold: 1, openMs: 2 });
      const f = cold('-#');
      const stream = cold('-a---b|');
      const starts = hot('f--t', { f: 'f', t: 'stream' });
      expectObservable(run(b, starts, { f, stream }, { successOn: 'first-value' })).toBe(
        '-F--a---b',
      );
      expectObservable(b.state$).toBe('co-hc', states);
    });
  });

  it('stops a synchronous source once the downstream unsubscribes', () => {
    scheduler.run(({ expectObservable }) => {
      const b = breaker({});
      let emitted = 0;
      const firehose = new Observable<string>((subscriber) => {
        for (let i = 0; i < 1000 && !subscriber.closed; i++) {
          emitted++;
          subscriber.next(String(i));
        }
      });
      expectObservable(firehose.pipe(circuitBreaker(b), take(3))).toBe('(012|)');
      scheduler.flush();
      expect(emitted).to.equal(3);
    });
  });

  it('a throwing fallback errors the call', () => {
    scheduler.run(({ expectObservable }) => {
      const b = breaker({ failureThreshold: 1 });
      const boom = () => {
        throw new Error('fallback broke');
      };
      expectObservable(
        throwError(() => new Error('x')).pipe(circuitBreaker(b, { fallback: boom })),
      ).toBe('#', undefined, new Error('fallback broke'));
    });
  });
});

const takeFor =
  (scheduler: TestScheduler, ms: number) =>
  <T>(source: Observable<T>): Observable<T> =>
    source.pipe(takeUntil(timer(ms, scheduler)));
