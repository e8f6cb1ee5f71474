import { expect } from 'chai';
import fc from 'fast-check';
import { Observable, Subject, Subscription, VirtualTimeScheduler } from 'rxjs';
import {
  MAX_PENDING_DECISIONS,
  rateLimit,
  SlidingWindowLimiter,
  type AsyncRateLimiter,
  type RateLimitConfig,
  type RateLimitDecision,
} from '../../lib/backpressure/index.js';
import { isBufferOverflowError, isRateLimitExceededError } from '../../lib/errors.js';

interface Emission {
  at: number;
  value: number;
}

/** Values 0..n-1 arriving at the given virtual times, then complete. */
function arrivals(scheduler: VirtualTimeScheduler, times: number[]): Observable<number> {
  return new Observable<number>((subscriber) => {
    const timers = new Subscription();
    times.forEach((t, i) => timers.add(scheduler.schedule(() => subscriber.next(i), t)));
    const end = times.length ? times[times.length - 1] + 1 : 0;
    timers.add(scheduler.schedule(() => subscriber.complete(), end));
    return timers;
  });
}

/** An async limiter over a sync one, answering one microtask later. */
function deferred(limiter: SlidingWindowLimiter): AsyncRateLimiter {
  return {
    tryAcquire: () => {
      const allowed = limiter.tryAcquire();
      return Promise.resolve({ allowed, retryAfterMs: allowed ? 0 : limiter.msUntilNext() });
    },
  };
}

/** An async limiter whose answers the spec gives by hand, in any order. */
function manualAsync() {
  const answers: ((decision: RateLimitDecision) => void)[] = [];
  const failures: ((err: unknown) => void)[] = [];
  const limiter: AsyncRateLimiter = {
    tryAcquire: () =>
      new Promise<RateLimitDecision>((resolve, reject) => {
        answers.push(resolve);
        failures.push(reject);
      }),
  };
  return { limiter, answers, failures };
}

const allow: RateLimitDecision = { allowed: true, retryAfterMs: 0 };
const deny = (retryAfterMs: number): RateLimitDecision => ({ allowed: false, retryAfterMs });
const microtasks = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs virtual timers and promise callbacks in turn until neither has work left. */
async function settle(scheduler: VirtualTimeScheduler): Promise<void> {
  for (let round = 0; round < 1000; round++) {
    await microtasks();
    if (scheduler.actions.length === 0) return;
    scheduler.flush();
  }
  throw new Error('did not settle');
}

describe('rateLimit', () => {
  describe('options', () => {
    const make = (config: object) => () => rateLimit(config as RateLimitConfig);
    it('rejects bad options at creation with errors naming the option', () => {
      expect(make({ limit: 0, windowMs: 10 })).to.throw(
        RangeError,
        'limit must be an integer >= 1 and <= 2147483647, got 0',
      );
      expect(make({ limit: 5, windowMs: -1 })).to.throw(
        RangeError,
        'windowMs must be a finite number > 0 and <= 2147483647, got -1',
      );
      expect(make({ limit: NaN, windowMs: 10 })).to.throw(
        RangeError,
        'limit must be an integer >= 1 and <= 2147483647, got NaN',
      );
      expect(make({ limit: 5, windowMs: NaN })).to.throw(RangeError, 'windowMs');
      expect(make({ limit: 5, windowMs: 10, maxQueue: 10 })).to.throw(
        RangeError,
        "maxQueue applies only to overflow 'queue', got overflow 'drop'",
      );
      expect(make({ limit: 5, windowMs: 10, overflow: 'error', maxQueue: 10 })).to.throw(
        RangeError,
        'maxQueue',
      );
      expect(make({ limit: 5, windowMs: 10, overflow: 'queue', maxQueue: 0 })).to.throw(
        RangeError,
        'maxQueue must be an integer >= 1',
      );
      expect(make({ limit: 5, windowMs: 10, overflow: 'block' })).to.throw(
        RangeError,
        "overflow must be one of 'drop', 'queue', 'error', got \"block\"",
      );
      const limiter = new SlidingWindowLimiter({ limit: 1, windowMs: 1 });
      expect(make({ limiter, limit: 5 })).to.throw(
        TypeError,
        'either limiter or limit and windowMs',
      );
      expect(make({ limiter: {} })).to.throw(TypeError, 'limiter.tryAcquire must be a function');
      expect(make({ limiter: null })).to.throw(TypeError, 'limiter');
      expect(make({})).to.throw(TypeError, 'limit');
    });

    it('bounds limit and windowMs to 2^31 - 1 at creation, naming the option and value', () => {
      expect(make({ limit: 2 ** 53, windowMs: 10 })).to.throw(
        RangeError,
        'limit must be an integer >= 1 and <= 2147483647, got 9007199254740992',
      );
      expect(make({ limit: 5, windowMs: 2 ** 31 })).to.throw(
        RangeError,
        'windowMs must be a finite number > 0 and <= 2147483647, got 2147483648',
      );
    });

    it('rejects unknown option keys, naming the key', () => {
      expect(make({ limit: 5, windowMs: 10, overfow: 'queue' })).to.throw(
        TypeError,
        'rateLimit config has an unknown option "overfow"',
      );
    });

    it('a subscription costs the same whatever the limit (no ring of limit slots up front)', () => {
      const limited = rateLimit<number>({ limit: 2 ** 31 - 1, windowMs: 1_000 });
      const started = performance.now();
      let emitted = 0;
      for (let i = 0; i < 1_000; i++) {
        new Observable<number>((s) => s.next(i)).pipe(limited).subscribe(() => emitted++);
      }
      expect(emitted).to.equal(1_000);
      // Subscribing once froze the event loop for 43 s at this limit.
      expect(performance.now() - started).to.be.below(500);
    });
  });

  describe('sync limiter, random arrivals (fast-check)', () => {
    const arbitraries = [
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 30 }),
      fc.array(fc.integer({ min: 0, max: 10 }), { maxLength: 60 }),
      fc.constantFrom('drop' as const, 'queue' as const),
    ] as const;

    it('never emits more than limit values in any window; queue loses nothing, keeps order', () => {
      fc.assert(
        fc.property(...arbitraries, (limit, windowMs, gaps, overflow) => {
          const scheduler = new VirtualTimeScheduler();
          let sum = 0;
          const times = gaps.map((gap) => (sum += gap));
          const out: Emission[] = [];
          let completed = false;
          arrivals(scheduler, times)
            .pipe(rateLimit({ limit, windowMs, overflow, scheduler }))
            .subscribe({
              next: (value) => out.push({ at: scheduler.now(), value }),
              complete: () => (completed = true),
            });
          scheduler.flush();

          expect(completed).to.equal(true);
          for (const { at } of out) {
            const inWindow = out.filter((e) => e.at >= at && e.at < at + windowMs).length;
            expect(inWindow).to.be.at.most(limit);
          }
          for (const { at, value } of out) expect(at).to.be.at.least(times[value]);
          const values = out.map((e) => e.value);
          expect(values).to.deep.equal([...values].sort((a, b) => a - b));
          if (overflow === 'queue') expect(values).to.deep.equal(times.map((_, i) => i));
        }),
        { numRuns: 200 },
      );
    });
  });

  describe('async limiter', () => {
    it("'queue' asks for one value at a time and emits in order as the limiter admits", async () => {
      const scheduler = new VirtualTimeScheduler();
      const sync = new SlidingWindowLimiter({ limit: 2, windowMs: 10, scheduler });
      const input = new Subject<number>();
      const out: Emission[] = [];
      let completed = false;
      input.pipe(rateLimit({ limiter: deferred(sync), overflow: 'queue', scheduler })).subscribe({
        next: (value) => out.push({ at: scheduler.now(), value }),
        complete: () => (completed = true),
      });
      for (let i = 0; i < 5; i++) input.next(i);
      input.complete();
      expect(completed).to.equal(false);
      await settle(scheduler);
      expect(out).to.deep.equal([
        { at: 0, value: 0 },
        { at: 0, value: 1 },
        { at: 10, value: 2 },
        { at: 10, value: 3 },
        { at: 20, value: 4 },
      ]);
      expect(completed).to.equal(true);
    });

    it("'queue' bounds waiting values by maxQueue", async () => {
      const { limiter } = manualAsync();
      const input = new Subject<number>();
      let error: unknown;
      input.pipe(rateLimit({ limiter, overflow: 'queue', maxQueue: 3 })).subscribe({
        error: (e: unknown) => (error = e),
      });
      for (let i = 0; i < 4; i++) input.next(i);
      await microtasks();
      expect(isBufferOverflowError(error)).to.equal(true);
      expect(input.observed).to.equal(false);
    });

    it("'drop' pipelines decisions but emits in arrival order", async () => {
      const { limiter, answers } = manualAsync();
      const input = new Subject<number>();
      const out: number[] = [];
      let completed = false;
      input.pipe(rateLimit({ limiter })).subscribe({
        next: (v) => out.push(v),
        complete: () => (completed = true),
      });
      for (let i = 0; i < 4; i++) input.next(i);
      input.complete();
      expect(answers).to.have.length(4);
      answers[3](allow);
      answers[2](allow);
      await microtasks();
      expect(out).to.deep.equal([]);
      answers[0](deny(5));
      await microtasks();
      expect(out).to.deep.equal([]);
      answers[1](allow);
      await microtasks();
      expect(out).to.deep.equal([1, 2, 3]);
      expect(completed).to.equal(true);
    });

    it(`'drop' keeps at most MAX_PENDING_DECISIONS (${MAX_PENDING_DECISIONS}) decisions outstanding`, () => {
      const { limiter, answers } = manualAsync();
      const input = new Subject<number>();
      input.pipe(rateLimit({ limiter })).subscribe();
      for (let i = 0; i < MAX_PENDING_DECISIONS + 10; i++) input.next(i);
      expect(answers).to.have.length(MAX_PENDING_DECISIONS);
    });

    it("'error' fails at the first refusal in arrival order, with its retryAfterMs", async () => {
      const { limiter, answers } = manualAsync();
      const input = new Subject<number>();
      const out: number[] = [];
      let error: unknown;
      input.pipe(rateLimit({ limiter, overflow: 'error' })).subscribe({
        next: (v) => out.push(v),
        error: (e: unknown) => (error = e),
      });
      for (let i = 0; i < 3; i++) input.next(i);
      answers[2](deny(1));
      answers[1](deny(7));
      answers[0](allow);
      await microtasks();
      expect(out).to.deep.equal([0]);
      expect(isRateLimitExceededError(error)).to.equal(true);
      expect((error as { retryAfterMs: number }).retryAfterMs).to.equal(7);
      expect(input.observed).to.equal(false);
    });

    it('passes on a failing limiter (e.g. Redis down) as the error', async () => {
      const { limiter, failures } = manualAsync();
      const input = new Subject<number>();
      let error: unknown;
      input.pipe(rateLimit({ limiter, overflow: 'queue' })).subscribe({
        error: (e: unknown) => (error = e),
      });
      input.next(1);
      const boom = new Error('connection lost');
      failures[0](boom);
      await microtasks();
      expect(error).to.equal(boom);
    });

    it('ignores decisions that arrive after unsubscribe and cancels the retry timer', async () => {
      const scheduler = new VirtualTimeScheduler();
      const { limiter, answers } = manualAsync();
      const input = new Subject<number>();
      const out: number[] = [];
      const subscription = input
        .pipe(rateLimit({ limiter, overflow: 'queue', scheduler }))
        .subscribe((v) => out.push(v));
      input.next(1);
      input.next(2);
      answers[0](deny(50));
      await microtasks();
      expect(scheduler.actions).to.have.length(1);
      subscription.unsubscribe();
      expect(scheduler.actions).to.have.length(0);

      const late = input.pipe(rateLimit({ limiter })).subscribe((v) => out.push(v));
      input.next(3);
      late.unsubscribe();
      answers[1](allow);
      await microtasks();
      expect(out).to.deep.equal([]);
    });
  });
});
