import { expect } from 'chai';
import { defer, throwError, type Observable } from 'rxjs';
import fc from 'fast-check';
import { createTestScheduler, marbles } from '../lib/testing/index.js';
import { retryBackoff } from '../lib/resilience/retryBackoff.js';
import { supervise, type SuperviseConfig } from '../lib/resilience/supervise.js';

/** A transient error (a network reset, as Node reports it); `n` tells one from another. */
const reset = (n: number) => Object.assign(new Error(`reset ${n}`), { code: 'ECONNRESET' });
const noJitter = { jitter: 'none', maxMs: 100 } as const;

/** Subscribes to `attempts[0]` first, then `attempts[1]` on the first restart, and so on. */
function inTurn<T>(attempts: Observable<T>[]): Observable<T> {
  let next = 0;
  return defer(() => attempts[next++]);
}

describe('supervise (marbles)', () => {
  it(
    'restarts after a transient error, the delay growing with the restarts; values pass through and do not reset it',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const s1 = cold('a#', undefined, reset(1));
      const s2 = cold('   b#', undefined, reset(2));
      const s3 = cold('        c#', undefined, reset(3));
      const s4 = cold('                 d|');
      const result = inTurn([s1, s2, s3, s4]).pipe(
        supervise({ maxRestarts: 3, withinMs: 100, initialMs: 2, ...noJitter }),
      );
      // errors at 1, 4, 9: delays 2, 4, 8 although every subscription emitted a value first
      expectObservable(result).toBe('a--b----c--------d|');
      expectSubscriptions(s1.subscriptions).toBe('^!');
      expectSubscriptions(s2.subscriptions).toBe('---^!');
      expectSubscriptions(s3.subscriptions).toBe('--------^!');
      expectSubscriptions(s4.subscriptions).toBe('-----------------^!');
    }),
  );

  it(
    'passes a fatal error at once, without restarting',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const fatal = new Error('bad configuration');
      const source = cold('a-#', undefined, fatal);
      const result = source.pipe(
        supervise({ maxRestarts: 5, withinMs: 100, initialMs: 1, ...noJitter }),
      );
      expectObservable(result).toBe('a-#', undefined, fatal);
      expectSubscriptions(source.subscriptions).toBe('^-!');
    }),
  );

  it(
    'when the restart intensity is exceeded, errors with the last error',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const s1 = cold('-#', undefined, reset(1));
      const s2 = cold('  -#', undefined, reset(2));
      const s3 = cold('     -#', undefined, reset(3));
      const result = inTurn([s1, s2, s3]).pipe(
        supervise({ maxRestarts: 2, withinMs: 100, initialMs: 1, ...noJitter }),
      );
      // errors at 1 (restart in 1), 3 (restart in 2), 6: a third restart within 100 ms
      expectObservable(result).toBe('------#', undefined, reset(3));
      expectSubscriptions(s1.subscriptions).toBe('^!');
      expectSubscriptions(s2.subscriptions).toBe('--^!');
      expectSubscriptions(s3.subscriptions).toBe('-----^!');
    }),
  );

  it(
    'restarts more than withinMs old no longer count, and the delay falls back to initialMs',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const s1 = cold('-#', undefined, reset(1));
      const s2 = cold('   a----------#', undefined, reset(2));
      const s3 = cold('                b|');
      const result = inTurn([s1, s2, s3]).pipe(
        supervise({ maxRestarts: 1, withinMs: 10, initialMs: 2, ...noJitter }),
      );
      // restart 1 counted at 1; the error at 14 finds it 13 ms old: restart again, in 2
      expectObservable(result).toBe('---a------------b|');
      expectSubscriptions(s1.subscriptions).toBe('^!');
      expectSubscriptions(s2.subscriptions).toBe('---^----------!');
      expectSubscriptions(s3.subscriptions).toBe('----------------^!');
    }),
  );

  it(
    'a restart exactly withinMs old still counts (the window is closed, as in Erlang/OTP)',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const s1 = cold('-#', undefined, reset(1));
      const s2 = cold('   --------#', undefined, reset(2));
      const result = inTurn([s1, s2]).pipe(
        supervise({ maxRestarts: 1, withinMs: 10, initialMs: 2, ...noJitter }),
      );
      // restart 1 counted at 1; the error at 11 finds it exactly 10 ms old
      expectObservable(result).toBe('-----------#', undefined, reset(2));
      expectSubscriptions(s1.subscriptions).toBe('^!');
      expectSubscriptions(s2.subscriptions).toBe('---^-------!');
    }),
  );

  it(
    'the delay grows with the restarts still in the window only',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const s1 = cold('-#', undefined, reset(1));
      const s2 = cold('  -#', undefined, reset(2));
      const s3 = cold('     --------#', undefined, reset(3));
      const s4 = cold('               a|');
      const result = inTurn([s1, s2, s3, s4]).pipe(
        supervise({ maxRestarts: 5, withinMs: 10, initialMs: 1, ...noJitter }),
      );
      // restarts counted at 1 (delay 1) and 3 (delay 2); at 13 only the one at 3 is in the
      // window: delay initialMs × 2^1 = 2
      expectObservable(result).toBe('---------------a|');
      expectSubscriptions(s1.subscriptions).toBe('^!');
      expectSubscriptions(s2.subscriptions).toBe('--^!');
      expectSubscriptions(s3.subscriptions).toBe('-----^-------!');
      expectSubscriptions(s4.subscriptions).toBe('---------------^!');
    }),
  );

  it(
    'unsubscribing during the backoff cancels the timer: no resubscription',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a#', undefined, reset(1));
      const result = source.pipe(
        supervise({ maxRestarts: 5, withinMs: 100, initialMs: 10, ...noJitter }),
      );
      expectObservable(result, '^----!').toBe('a');
      expectSubscriptions(source.subscriptions).toBe('^!');
    }),
  );

  it(
    'completes when the source completes, passing its values',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-b-c|');
      const result = source.pipe(
        supervise({ maxRestarts: 1, withinMs: 100, initialMs: 1, ...noJitter }),
      );
      expectObservable(result).toBe('a-b-c|');
      expectSubscriptions(source.subscriptions).toBe('^----!');
    }),
  );

  it(
    'maxRestarts 0 passes the first transient error',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-#', undefined, reset(1));
      const result = source.pipe(
        supervise({ maxRestarts: 0, withinMs: 100, initialMs: 1, ...noJitter }),
      );
      expectObservable(result).toBe('a-#', undefined, reset(1));
      expectSubscriptions(source.subscriptions).toBe('^-!');
    }),
  );

  it(
    'withinMs Infinity: restarts never age out, maxRestarts caps the whole subscription',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const s1 = cold('-#', undefined, reset(1));
      const s2 = cold(`  ${'-'.repeat(40)}#`, undefined, reset(2));
      const result = inTurn([s1, s2]).pipe(
        supervise({ maxRestarts: 1, withinMs: Infinity, initialMs: 1, ...noJitter }),
      );
      // restart 1 counted at 1 still counts at 42
      expectObservable(result).toBe(`${'-'.repeat(42)}#`, undefined, reset(2));
      expectSubscriptions(s1.subscriptions).toBe('^!');
      expectSubscriptions(s2.subscriptions).toBe(`--^${'-'.repeat(39)}!`);
    }),
  );

  for (const jitter of ['none', 'full', 'equal', 'decorrelated'] as const) {
    it(`jitter '${jitter}': waits exactly retryBackoff's delays while every restart is in the window (property)`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
            minLength: 5,
            maxLength: 5,
          }),
          fc.integer({ min: 1, max: 50 }),
          fc.integer({ min: 1, max: 4 }),
          (randoms, initialMs, factor) => {
            const options = { initialMs, maxMs: initialMs * 20, factor, jitter };
            const n = randoms.length;
            const supervised = measureDelays(randoms, (random, scheduler) =>
              supervise({ ...options, maxRestarts: n, withinMs: Infinity, random, scheduler }),
            );
            const retried = measureDelays(randoms, (random, scheduler) =>
              retryBackoff({ ...options, maxRetries: n, random, scheduler }),
            );
            expect(supervised).to.deep.equal(retried);
          },
        ),
        { numRuns: 30 },
      );
    });
  }
});

type Operator = (
  random: () => number,
  scheduler: SuperviseConfig['scheduler'],
) => (source: Observable<never>) => Observable<never>;

/** The delays (virtual ms) between the subscriptions of an always-failing transient source. */
function measureDelays(randoms: number[], operator: Operator): number[] {
  const scheduler = createTestScheduler();
  const starts: number[] = [];
  let draw = 0;
  scheduler.run(() => {
    defer(() => {
      starts.push(scheduler.now());
      return throwError(() => reset(starts.length));
    })
      .pipe(operator(() => randoms[draw++], scheduler))
      .subscribe({ error: () => undefined });
  });
  expect(starts).to.have.length(randoms.length + 1);
  return starts.slice(1).map((t, i) => t - starts[i]);
}
