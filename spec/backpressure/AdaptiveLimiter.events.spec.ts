import { expect } from 'chai';
import { AdaptiveLimiter } from '../../lib/backpressure/index.js';
import type { ConcurrencyLimiterEvent } from '../../lib/index.js';
import { manualClock } from './clock.js';

/** A manual clock that counts its reads, to show an unobserved limiter reads none. */
function countingClock() {
  const clock = manualClock();
  const counted = Object.assign(clock, { reads: 0 });
  const now = clock.now.bind(clock);
  counted.now = () => {
    counted.reads++;
    return now();
  };
  return counted;
}

describe('AdaptiveLimiter.events$', () => {
  it('reports rejections, releases with outcome and duration, and limit changes, in order, at scheduler time', () => {
    const clock = manualClock();
    const limiter = new AdaptiveLimiter({ initial: 2, min: 1, max: 4, scheduler: clock });
    const log: Array<ConcurrencyLimiterEvent | { type: 'limit$'; value: number }> = [];
    limiter.events$.subscribe((event) => log.push(event));
    limiter.limit$.subscribe((value) => log.push({ type: 'limit$', value }));
    log.length = 0; // limit$ replays its current value
    const first = limiter.tryAcquire()!;
    const second = limiter.tryAcquire()!; // fills the limit: its success raises it
    clock.time = 3;
    expect(limiter.tryAcquire()).to.equal(null);
    clock.time = 5;
    second.release('success');
    const third = limiter.tryAcquire()!;
    clock.time = 12;
    first.release('dropped');
    clock.time = 20;
    third.release('ignored');
    expect(log).to.deep.equal([
      { type: 'rejected', at: 3 },
      { type: 'released', outcome: 'success', durationMs: 5, at: 5 },
      { type: 'limit', limit: 3, previous: 2, at: 5 },
      { type: 'limit$', value: 3 },
      { type: 'released', outcome: 'dropped', durationMs: 12, at: 12 },
      { type: 'limit', limit: 2, previous: 3, at: 12 },
      { type: 'limit$', value: 2 },
      { type: 'released', outcome: 'ignored', durationMs: 15, at: 20 },
    ]);
  });

  it('unobserved, reads no clock; a permit taken before anyone subscribed reports no release', () => {
    const clock = countingClock();
    const limiter = new AdaptiveLimiter({ initial: 1, min: 1, max: 3, scheduler: clock });
    const early = limiter.tryAcquire()!;
    expect(limiter.tryAcquire()).to.equal(null);
    limiter.tryAcquire();
    expect(clock.reads).to.equal(0);
    const log: ConcurrencyLimiterEvent[] = [];
    const subscription = limiter.events$.subscribe((event) => log.push(event));
    clock.time = 7;
    early.release('success'); // it filled the limit: the raise is reported, the release is not
    expect(log).to.deep.equal([{ type: 'limit', limit: 2, previous: 1, at: 7 }]);
    const late = limiter.tryAcquire()!;
    subscription.unsubscribe();
    late.release('success'); // nobody listens any more
    expect(log).to.have.length(1);
  });

  it('is hot: a late subscriber sees only what happens after it subscribed', () => {
    const limiter = new AdaptiveLimiter({ initial: 1, min: 1, max: 1, scheduler: manualClock() });
    const first: string[] = [];
    const second: string[] = [];
    limiter.events$.subscribe((event) => first.push(event.type));
    limiter.tryAcquire();
    limiter.tryAcquire();
    limiter.events$.subscribe((event) => second.push(event.type));
    limiter.tryAcquire();
    expect(first).to.deep.equal(['rejected', 'rejected']);
    expect(second).to.deep.equal(['rejected']);
  });

  it('rejects a scheduler that is not a SchedulerLike at creation', () => {
    expect(
      () => new AdaptiveLimiter({ initial: 1, min: 1, max: 2, scheduler: {} as never }),
    ).to.throw(TypeError, 'scheduler must be a SchedulerLike');
  });
});
