import { expect } from 'chai';
import fc from 'fast-check';
import { SlidingWindowLimiter } from '../../lib/backpressure/index.js';
import { manualClock } from './clock.js';

/** The definition, by brute force: admitted times; admit iff fewer than limit are in the window. */
class ReferenceLimiter {
  private readonly admitted: number[] = [];
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  private inWindow(now: number): number[] {
    return this.admitted.filter((t) => now - t < this.windowMs);
  }

  tryAcquire(now: number): boolean {
    if (this.inWindow(now).length >= this.limit) return false;
    this.admitted.push(now);
    return true;
  }

  msUntilNext(now: number): number {
    const inWindow = this.inWindow(now);
    if (inWindow.length < this.limit) return 0;
    return Math.min(...inWindow) + this.windowMs - now;
  }
}

describe('SlidingWindowLimiter', () => {
  it('admits limit permits per window and frees each exactly windowMs after it was taken', () => {
    const clock = manualClock();
    const limiter = new SlidingWindowLimiter({ limit: 2, windowMs: 100, scheduler: clock });
    expect(limiter.tryAcquire()).to.equal(true);
    clock.time = 40;
    expect(limiter.tryAcquire()).to.equal(true);
    expect(limiter.tryAcquire()).to.equal(false);
    expect(limiter.msUntilNext()).to.equal(60);
    clock.time = 99.5;
    expect(limiter.tryAcquire()).to.equal(false);
    expect(limiter.msUntilNext()).to.equal(0.5);
    clock.time = 100;
    expect(limiter.msUntilNext()).to.equal(0);
    expect(limiter.tryAcquire()).to.equal(true);
    expect(limiter.tryAcquire()).to.equal(false);
    expect(limiter.msUntilNext()).to.equal(40);
  });

  it('rejects bad options at creation, naming the option and value', () => {
    const make = (config: object) => () =>
      new SlidingWindowLimiter(config as { limit: number; windowMs: number });
    expect(make({ limit: 0, windowMs: 10 })).to.throw(
      RangeError,
      'limit must be an integer >= 1 and <= 2147483647, got 0',
    );
    expect(make({ limit: 1.5, windowMs: 10 })).to.throw(RangeError, 'limit');
    expect(make({ limit: 1, windowMs: -1 })).to.throw(
      RangeError,
      'windowMs must be a finite number > 0 and <= 2147483647, got -1',
    );
    expect(make({ limit: 1, windowMs: 0 })).to.throw(RangeError, 'windowMs');
    expect(make({ limit: 1, windowMs: NaN })).to.throw(RangeError, 'got NaN');
    expect(make({ limit: NaN, windowMs: 1 })).to.throw(RangeError, 'limit');
    expect(make({ limit: '5', windowMs: 1 })).to.throw(TypeError, 'limit');
    expect(make({ limit: 1, windowMs: 1, scheduler: {} })).to.throw(TypeError, 'scheduler');
  });

  it('bounds limit and windowMs to 2^31 - 1, naming the option and value', () => {
    const make = (config: object) => () =>
      new SlidingWindowLimiter(config as { limit: number; windowMs: number });
    expect(make({ limit: 2 ** 53, windowMs: 10 })).to.throw(
      RangeError,
      'limit must be an integer >= 1 and <= 2147483647, got 9007199254740992',
    );
    expect(make({ limit: 1, windowMs: 2 ** 31 })).to.throw(
      RangeError,
      'windowMs must be a finite number > 0 and <= 2147483647, got 2147483648',
    );
    expect(make({ limit: 2 ** 31 - 1, windowMs: 2 ** 31 - 1 })).not.to.throw();
  });

  it('rejects unknown option keys, naming the key', () => {
    const config = { limit: 1, windowMs: 10, windowMS: 5 };
    expect(() => new SlidingWindowLimiter(config)).to.throw(
      TypeError,
      'SlidingWindowLimiter config has an unknown option "windowMS"',
    );
  });

  it('costs the same to create whatever the limit: memory follows the permits held', () => {
    const started = performance.now();
    for (let i = 0; i < 1_000; i++) {
      const limiter = new SlidingWindowLimiter({ limit: 2 ** 31 - 1, windowMs: 1_000 });
      expect(limiter.tryAcquire()).to.equal(true);
    }
    // A ring of `limit` slots made at once took 43 s for one limiter of this size.
    expect(performance.now() - started).to.be.below(500);
  });

  it('matches the brute-force sliding log while its ring grows and wraps (limits > 16)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 17, max: 80 }),
        fc.integer({ min: 5, max: 60 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 100, maxLength: 400 }),
        (limit, windowMs, gaps) => {
          const clock = manualClock();
          const limiter = new SlidingWindowLimiter({ limit, windowMs, scheduler: clock });
          const reference = new ReferenceLimiter(limit, windowMs);
          for (const gap of gaps) {
            clock.time += gap;
            expect(limiter.msUntilNext()).to.equal(reference.msUntilNext(clock.time));
            expect(limiter.tryAcquire()).to.equal(reference.tryAcquire(clock.time));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('decides exactly like the brute-force sliding log on random arrival times', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.oneof(fc.integer({ min: 1, max: 50 }), fc.double({ min: 0.25, max: 50, noNaN: true })),
        fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }),
        (limit, windowMs, gaps) => {
          const clock = manualClock();
          const limiter = new SlidingWindowLimiter({ limit, windowMs, scheduler: clock });
          const reference = new ReferenceLimiter(limit, windowMs);
          for (const gap of gaps) {
            clock.time += gap;
            expect(limiter.msUntilNext()).to.be.closeTo(reference.msUntilNext(clock.time), 1e-9);
            expect(limiter.tryAcquire()).to.equal(reference.tryAcquire(clock.time));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
