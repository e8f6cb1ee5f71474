import { expect } from 'chai';
import { GradientLimiter } from '../../lib/backpressure/index.js';
import type { ConcurrencyLimiterEvent } from '../../lib/index.js';
import { manualClock } from './clock.js';

describe('GradientLimiter.events$', () => {
  // smoothing 1 and queueSize 1: a window at steady latency and full use sets limit + 1.
  const make = (clock = manualClock()) =>
    new GradientLimiter({
      initial: 2,
      min: 1,
      max: 10,
      smoothing: 1,
      queueSize: 1,
      scheduler: clock,
    });

  it('reports rejections, each release, then the limit its window set, at scheduler time', () => {
    const clock = manualClock();
    const limiter = make(clock);
    const log: Array<ConcurrencyLimiterEvent | { type: 'limit$'; value: number }> = [];
    limiter.events$.subscribe((event) => log.push(event));
    limiter.limit$.subscribe((value) => log.push({ type: 'limit$', value }));
    log.length = 0; // limit$ replays its current value
    const first = limiter.tryAcquire()!;
    const second = limiter.tryAcquire()!;
    clock.time = 1;
    expect(limiter.tryAcquire()).to.equal(null);
    clock.time = 4;
    first.release('success');
    clock.time = 10;
    second.release('dropped'); // closes the window of 2 samples: the limit becomes 3
    const third = limiter.tryAcquire()!;
    clock.time = 11;
    third.release('ignored'); // not a sample, still a release
    expect(log).to.deep.equal([
      { type: 'rejected', at: 1 },
      { type: 'released', outcome: 'success', durationMs: 4, at: 4 },
      { type: 'released', outcome: 'dropped', durationMs: 10, at: 10 },
      { type: 'limit', limit: 3, previous: 2, at: 10 },
      { type: 'limit$', value: 3 },
      { type: 'released', outcome: 'ignored', durationMs: 1, at: 11 },
    ]);
  });

  it('a permit taken before anyone subscribed reports no release; unsubscribed, nothing is delivered', () => {
    const clock = manualClock();
    const limiter = make(clock);
    const early = limiter.tryAcquire()!;
    const log: ConcurrencyLimiterEvent[] = [];
    const subscription = limiter.events$.subscribe((event) => log.push(event));
    const observed = limiter.tryAcquire()!;
    clock.time = 6;
    early.release('success');
    observed.release('success');
    expect(log).to.deep.equal([
      { type: 'released', outcome: 'success', durationMs: 6, at: 6 },
      { type: 'limit', limit: 3, previous: 2, at: 6 },
    ]);
    subscription.unsubscribe();
    limiter.tryAcquire()!.release('success');
    expect(log).to.have.length(2);
  });
});
