import { expect } from 'chai';
import { defer, throwError } from 'rxjs';
import fc from 'fast-check';
import { createTestScheduler } from '../lib/testing/index.js';
import { retryBackoff, type Jitter } from '../lib/resilience/retryBackoff.js';

/** Delays are measured as differences of virtual times, which round. */
const EPSILON = 1e-9;

describe('retryBackoff (marbles)', () => {
  it("jitter 'none': waits initialMs × factor^k capped at maxMs, then rethrows the source's error", () => {
    createTestScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-#', undefined, new Error('down'));
      const result = source.pipe(
        retryBackoff({ maxRetries: 3, initialMs: 2, maxMs: 5, jitter: 'none' }),
      );
      // subscriptions at 0, 1+2, 4+4, 9+5 (capped); the 4th error is the last
      expectObservable(result).toBe('---------------#', undefined, new Error('down'));
      expectSubscriptions(source.subscriptions).toBe([
        '^!',
        '---^!',
        '--------^!',
        '--------------^!',
      ]);
    });
  });

  it('recovers when a retry succeeds', () => {
    createTestScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      let attempt = 0;
      const source = cold('-#');
      const ok = cold('-a|');
      const result = defer(() => (++attempt < 3 ? source : ok)).pipe(
        retryBackoff({ maxRetries: 5, initialMs: 1, maxMs: 100, factor: 3, jitter: 'none' }),
      );
      // error@1, wait 1; error@3, wait 3; the third subscription (at 6) succeeds
      expectObservable(result).toBe('-------a|');
      expectSubscriptions(source.subscriptions).toBe(['^!', '--^!']);
      expectSubscriptions(ok.subscriptions).toBe('------^-!');
    });
  });

  it('stops at once when shouldRetry says no, with the attempt number', () => {
    const seen: number[] = [];
    createTestScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-#', undefined, 'fatal');
      const result = source.pipe(
        retryBackoff({
          maxRetries: 10,
          initialMs: 1,
          maxMs: 10,
          jitter: 'none',
          shouldRetry: (_e, attempt) => {
            seen.push(attempt);
            return attempt < 3;
          },
        }),
      );
      expectObservable(result).toBe('------#', undefined, 'fatal');
      expectSubscriptions(source.subscriptions).toBe(['^!', '--^!', '-----^!']);
    });
    expect(seen).to.deep.equal([1, 2, 3]);
  });

  it('resetOnSuccess: a value restarts the count and the delay', () => {
    createTestScheduler().run(({ cold, expectObservable }) => {
      let attempt = 0;
      // attempts 1,2 fail; 3 emits then fails; 4 fails; 5 completes
      const script = ['-#', '-#', '-a#', '-#', '-b|'];
      const result = defer(() => cold(script[attempt++])).pipe(
        retryBackoff({
          maxRetries: 2,
          initialMs: 2,
          maxMs: 100,
          jitter: 'none',
          resetOnSuccess: true,
        }),
      );
      // fail@1 wait 2; fail@4 wait 4; a@9 (reset), fail@10 wait 2; fail@13 wait 4; b@18
      expectObservable(result).toBe('---------a--------b|');
    });
  });

  it('maxRetries 0 passes the first error through', () => {
    createTestScheduler().run(({ cold, expectObservable }) => {
      const source = cold('--#');
      expectObservable(source.pipe(retryBackoff({ maxRetries: 0, initialMs: 1, maxMs: 1 }))).toBe(
        '--#',
      );
    });
  });

  it('unsubscribing during a delay stops retrying', () => {
    createTestScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-#');
      const result = source.pipe(
        retryBackoff({ maxRetries: 5, initialMs: 10, maxMs: 10, jitter: 'none' }),
      );
      expectObservable(result, '^----!').toBe('');
      expectSubscriptions(source.subscriptions).toBe('^!');
    });
  });

  const bounds: Record<Exclude<Jitter, 'decorrelated'>, (base: number) => [number, number]> = {
    none: (base) => [base, base],
    full: (base) => [0, base],
    equal: (base) => [base / 2, base],
  };

  for (const jitter of ['none', 'full', 'equal'] as const) {
    it(`jitter '${jitter}': every delay is within its bounds (property)`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
            minLength: 6,
            maxLength: 6,
          }),
          fc.integer({ min: 1, max: 50 }),
          fc.integer({ min: 1, max: 4 }),
          (randoms, initialMs, factor) => {
            const maxMs = initialMs * 10;
            const delays = measureDelays(jitter, randoms, { initialMs, maxMs, factor });
            delays.forEach((ms, k) => {
              const [lo, hi] = bounds[jitter](Math.min(maxMs, initialMs * factor ** k));
              expect(ms).to.be.within(lo - EPSILON, hi + EPSILON);
            });
          },
        ),
        { numRuns: 50 },
      );
    });
  }

  it("jitter 'decorrelated': within [initialMs, min(maxMs, 3 × previous)] (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 6,
          maxLength: 6,
        }),
        fc.integer({ min: 1, max: 50 }),
        (randoms, initialMs) => {
          const maxMs = initialMs * 20;
          const delays = measureDelays('decorrelated', randoms, { initialMs, maxMs, factor: 2 });
          let previous = initialMs;
          for (const ms of delays) {
            expect(ms).to.be.within(initialMs - EPSILON, Math.min(maxMs, 3 * previous) + EPSILON);
            previous = ms;
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('rejects bad config at creation with the option name', () => {
    const ok = { maxRetries: 1, initialMs: 1, maxMs: 2 };
    expect(() => retryBackoff({ ...ok, maxRetries: -1 })).to.throw(RangeError, /maxRetries/);
    expect(() => retryBackoff({ ...ok, maxRetries: 1.5 })).to.throw(RangeError, /maxRetries/);
    expect(() => retryBackoff({ ...ok, initialMs: -1 })).to.throw(RangeError, /initialMs/);
    expect(() => retryBackoff({ ...ok, maxMs: 0.5 })).to.throw(RangeError, /maxMs/);
    expect(() => retryBackoff({ ...ok, factor: 0.5 })).to.throw(RangeError, /factor/);
    expect(() => retryBackoff({ ...ok, jitter: 'half' as Jitter })).to.throw(RangeError, /jitter/);
    expect(() => retryBackoff({ ...ok, shouldRetry: 1 as never })).to.throw(
      TypeError,
      /shouldRetry/,
    );
    expect(() => retryBackoff({ ...ok, resetOnSuccess: 'yes' as never })).to.throw(
      TypeError,
      /resetOnSuccess/,
    );
    expect(() => retryBackoff({ ...ok, random: 0.5 as never })).to.throw(TypeError, /random/);
    expect(() => retryBackoff({ ...ok, scheduler: {} as never })).to.throw(TypeError, /scheduler/);
    expect(() => retryBackoff(undefined as never)).to.throw(TypeError, /maxRetries/);
    expect(() => retryBackoff({ ...ok, maxRetries: Infinity })).not.to.throw();
    expect(() => retryBackoff({ ...ok, maxMs: 2 ** 31 })).to.throw(
      RangeError,
      /maxMs must be a finite number >= \d+ and <= 2147483647, got 2147483648/,
    );
    expect(() => retryBackoff({ ...ok, maxRetry: 3 } as never)).to.throw(
      TypeError,
      'retryBackoff config has an unknown option "maxRetry"',
    );
  });
});

/** The delays (virtual ms) between failed subscriptions of an always-failing source. */
function measureDelays(
  jitter: Jitter,
  randoms: number[],
  { initialMs, maxMs, factor }: { initialMs: number; maxMs: number; factor: number },
): number[] {
  const scheduler = createTestScheduler();
  const starts: number[] = [];
  let draw = 0;
  scheduler.run(() => {
    defer(() => {
      starts.push(scheduler.now());
      return throwError(() => new Error('x'));
    })
      .pipe(
        retryBackoff({
          maxRetries: randoms.length,
          initialMs,
          maxMs,
          factor,
          jitter,
          random: () => randoms[draw++],
          scheduler,
        }),
      )
      .subscribe({ error: () => undefined });
  });
  expect(starts).to.have.length(randoms.length + 1);
  return starts.slice(1).map((t, i) => t - starts[i]);
}
