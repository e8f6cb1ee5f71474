import { expect } from 'chai';
import { SlidingWindowLimiter } from '../../lib/backpressure/index.js';
import type { RateLimiterEvent } from '../../lib/index.js';
import { manualClock } from './clock.js';

describe('SlidingWindowLimiter.events$', () => {
  it('one event per decision, before tryAcquire returns: admitted, or rejected with retryAfterMs', () => {
    const clock = manualClock();
    const limiter = new SlidingWindowLimiter({ limit: 2, windowMs: 100, scheduler: clock });
    const log: Array<RateLimiterEvent | boolean> = [];
    limiter.events$.subscribe((event) => log.push(event));
    log.push(limiter.tryAcquire());
    clock.time = 40;
    log.push(limiter.tryAcquire());
    clock.time = 50;
    log.push(limiter.tryAcquire());
    clock.time = 100; // the first permit is free again
    log.push(limiter.tryAcquire());
    log.push(limiter.tryAcquire());
    expect(log).to.deep.equal([
      { type: 'admitted', at: 0 },
      true,
      { type: 'admitted', at: 40 },
      true,
      { type: 'rejected', retryAfterMs: 50, at: 50 },
      false,
      { type: 'admitted', at: 100 },
      true,
      { type: 'rejected', retryAfterMs: 40, at: 100 },
      false,
    ]);
  });

  it('unobserved, builds nothing: one clock read per call (the decision), none for retryAfterMs or at', () => {
    const clock = manualClock();
    let reads = 0;
    const now = clock.now.bind(clock);
    clock.now = () => (reads++, now());
    const limiter = new SlidingWindowLimiter({ limit: 1, windowMs: 100, scheduler: clock });
    limiter.tryAcquire();
    limiter.tryAcquire();
    expect(reads).to.equal(2);
    const log: RateLimiterEvent[] = [];
    const subscription = limiter.events$.subscribe((event) => log.push(event));
    limiter.tryAcquire();
    expect(log).to.deep.equal([{ type: 'rejected', retryAfterMs: 100, at: 0 }]);
    subscription.unsubscribe();
    reads = 0;
    limiter.tryAcquire();
    expect(reads).to.equal(1);
    expect(log).to.have.length(1);
  });

  it('is hot: a late subscriber sees no earlier decision', () => {
    const limiter = new SlidingWindowLimiter({ limit: 5, windowMs: 100, scheduler: manualClock() });
    limiter.events$.subscribe();
    limiter.tryAcquire();
    const log: RateLimiterEvent[] = [];
    limiter.events$.subscribe((event) => log.push(event));
    limiter.tryAcquire();
    expect(log).to.deep.equal([{ type: 'admitted', at: 0 }]);
  });
});
