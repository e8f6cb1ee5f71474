import { expect } from 'chai';
import {
  defer,
  finalize,
  range,
  throwError,
  timer,
  VirtualTimeScheduler,
  mergeMap,
  of,
} from 'rxjs';
import { AdaptiveLimiter } from '../../lib/backpressure/index.js';
import { fanOut } from '../../lib/fanout/index.js';

describe('AdaptiveLimiter with fanOut', () => {
  it('fanOut(work, { concurrency: limiter }) follows a service whose capacity drops and recovers', () => {
    const scheduler = new VirtualTimeScheduler();
    // The service serves `capacity` calls at once; a call beyond that times out after 10 ms.
    const capacityAt = (t: number) => (t < 1_000 ? 16 : t < 2_000 ? 4 : 16);
    let active = 0;
    let mostActiveOverLimit = 0;
    const call = (i: number) =>
      defer(() => {
        const concurrent = ++active;
        mostActiveOverLimit = Math.max(mostActiveOverLimit, active - limiter.limit);
        const overloaded = concurrent > capacityAt(scheduler.now());
        return timer(10, scheduler).pipe(
          mergeMap(() => (overloaded ? throwError(() => new Error('timeout')) : of(i))),
          finalize(() => active--),
        );
      });
    const limiter = new AdaptiveLimiter({ initial: 8, min: 2, max: 32 });
    const limitAt: [number, number][] = [];
    limiter.limit$.subscribe((limit) => limitAt.push([scheduler.now(), limit]));
    let succeeded = 0;
    let failed = 0;
    range(0, 4_000)
      .pipe(fanOut(call, { concurrency: limiter, errors: 'collect' }))
      .subscribe({
        next: () => succeeded++,
        error: (e: AggregateError) => (failed = e.errors.length),
      });
    scheduler.flush();

    expect(succeeded + failed).to.equal(4_000);
    const limitBefore = (t: number) => limitAt.filter(([at]) => at <= t).at(-1)![1];
    for (const t of [800, 900, 1_000]) expect(limitBefore(t)).to.be.within(14, 17);
    for (const t of [1_800, 1_900, 2_000]) expect(limitBefore(t)).to.be.within(3, 5);
    const end = scheduler.now();
    for (const t of [end - 200, end - 100, end]) expect(limitBefore(t)).to.be.within(14, 17);
    // A lowered limit lets in-flight calls finish: never more than the old limit's excess.
    expect(mostActiveOverLimit).to.be.at.most(0);
    expect(limiter.inflight).to.equal(0);
  });
});
