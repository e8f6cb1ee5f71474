/** fanOut with the library's AdaptiveLimiter: the limit adapts and is never exceeded. */
import { expect } from 'chai';
import { defer, finalize, lastValueFrom, map, mergeMap, range, throwError, timer } from 'rxjs';
import { AdaptiveLimiter } from '../../lib/backpressure/AdaptiveLimiter.js';
import { fanOut } from '../../lib/fanout/index.js';
import { createTestScheduler } from '../../lib/testing/index.js';

describe('fanOut with AdaptiveLimiter', () => {
  it('grows the limit on successes, shrinks it on errors, never runs more than the limit', () => {
    const limiter = new AdaptiveLimiter({ initial: 2, min: 1, max: 16 });
    const limits: number[] = [];
    const values: number[] = [];
    let failure: unknown;
    let active = 0;
    let exceeded = false;
    createTestScheduler().run(() => {
      limiter.limit$.subscribe((limit) => limits.push(limit));
      const work = (v: number) =>
        defer(() => {
          active++;
          if (active > limiter.limit) exceeded = true;
          // Every 10th call fails once the limit has grown past 4.
          return v % 10 === 9 && limiter.limit > 4
            ? timer(3).pipe(mergeMap(() => throwError(() => new Error(`failed ${v}`))))
            : timer(3).pipe(map(() => v));
        }).pipe(finalize(() => active--));
      range(0, 60)
        .pipe(fanOut(work, { concurrency: limiter, ordered: true, errors: 'collect' }))
        .subscribe({ next: (v) => values.push(v), error: (e: unknown) => (failure = e) });
    });
    expect(failure).to.be.instanceOf(AggregateError);
    const failed = (failure as AggregateError).errors.length;
    expect(failed).to.be.greaterThan(0);
    expect(values).to.have.length(60 - failed);
    expect(values).to.deep.equal([...values].sort((a, b) => a - b));
    expect(exceeded).to.equal(false);
    expect(Math.max(...limits)).to.be.greaterThan(4);
    expect(limits.some((limit, i) => i > 0 && limit < limits[i - 1])).to.equal(true);
    expect(limiter.inflight).to.equal(0);
  });

  it("errors release permits as 'dropped' and the limit goes down (collect mode keeps going)", async () => {
    const limiter = new AdaptiveLimiter({ initial: 8, min: 1, max: 16 });
    const error = await lastValueFrom(
      range(0, 8).pipe(
        fanOut(() => throwError(() => new Error('overloaded')), {
          concurrency: limiter,
          errors: 'collect',
        }),
      ),
    ).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(AggregateError);
    expect((error as AggregateError).errors).to.have.length(8);
    expect(limiter.limit).to.be.lessThan(8);
    expect(limiter.inflight).to.equal(0);
  });
});
