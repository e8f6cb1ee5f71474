import { expect } from 'chai';
import { Subject, VirtualTimeScheduler, range, take, tap } from 'rxjs';
import { rateLimit, SlidingWindowLimiter } from '../lib/backpressure/index.js';
import { BufferOverflowError, RateLimitExceededError } from '../lib/errors.js';
import { marbles } from '../lib/testing/index.js';

describe('rateLimit (marbles)', () => {
  describe("overflow 'drop'", () => {
    it(
      'drops values beyond limit per window; a permit frees exactly windowMs after it was taken',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('abcd---ef|');
        expectObservable(source.pipe(rateLimit({ limit: 2, windowMs: 4 }))).toBe('ab-----ef|');
        expectSubscriptions(source.subscriptions).toBe('^--------!');
      }),
    );

    it(
      'is the default policy and a value exactly windowMs later is admitted',
      marbles(({ cold, expectObservable }) => {
        const source = cold('ab--cd|');
        expectObservable(source.pipe(rateLimit({ limit: 1, windowMs: 4 }))).toBe('a---c-|');
        expectObservable(cold('a---b|').pipe(rateLimit({ limit: 1, windowMs: 4 }))).toBe('a---b|');
      }),
    );

    it(
      'passes source errors through at once',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('abc#');
        expectObservable(source.pipe(rateLimit({ limit: 1, windowMs: 10 }))).toBe('a--#');
        expectSubscriptions(source.subscriptions).toBe('^--!');
      }),
    );
  });

  describe('window growth', () => {
    it(
      'a huge limit admits everything, and a window that fills past 16 permits still frees each on time',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const huge = cold('abc|');
        expectObservable(huge.pipe(rateLimit({ limit: 2 ** 31 - 1, windowMs: 5 }))).toBe('abc|');
        expectSubscriptions(huge.subscriptions).toBe('^--!');
        // 20 values at frame 0 fill (and grow) the ring; u, at 22, waits until 30.
        const burst = cold('(abcdefghijklmnopqrst)(u|)');
        const limited = burst.pipe(rateLimit({ limit: 20, windowMs: 30, overflow: 'queue' }));
        expectObservable(limited).toBe('(abcdefghijklmnopqrst) 8ms (u|)');
        expectSubscriptions(burst.subscriptions).toBe('^ 21ms !');
      }),
    );
  });

  describe("overflow 'queue'", () => {
    it(
      'emits queued values in order as permits free up',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('abcd------e|');
        const limited = source.pipe(rateLimit({ limit: 2, windowMs: 4, overflow: 'queue' }));
        expectObservable(limited).toBe('ab--cd----e|');
        expectSubscriptions(source.subscriptions).toBe('^----------!');
      }),
    );

    it(
      'completes only after the queue has drained',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('abcde|');
        const limited = source.pipe(rateLimit({ limit: 2, windowMs: 4, overflow: 'queue' }));
        expectObservable(limited).toBe('ab--cd--(e|)');
        // the source is released when it completes, not when the queue drains
        expectSubscriptions(source.subscriptions).toBe('^----!');
      }),
    );

    it(
      'errors with BufferOverflowError when more than maxQueue values wait',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('abcd|');
        const limited = source.pipe(
          rateLimit({ limit: 1, windowMs: 10, overflow: 'queue', maxQueue: 2 }),
        );
        expectObservable(limited).toBe('a--#', undefined, new BufferOverflowError(2));
        expectSubscriptions(source.subscriptions).toBe('^--!');
      }),
    );

    it(
      'drops the queue on a source error',
      marbles(({ cold, expectObservable }) => {
        const source = cold('abc-#');
        const limited = source.pipe(rateLimit({ limit: 1, windowMs: 2, overflow: 'queue' }));
        expectObservable(limited).toBe('a-b-#');
      }),
    );

    it(
      'unsubscribing drops the queue',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('abcd------|');
        const limited = source.pipe(rateLimit({ limit: 2, windowMs: 4, overflow: 'queue' }));
        expectObservable(limited, '^----!').toBe('ab--c');
        expectSubscriptions(source.subscriptions).toBe('^----!');
      }),
    );

    it(
      'shares one limiter between subscriptions: together they stay within the limit',
      marbles(({ cold, expectObservable }) => {
        const limiter = new SlidingWindowLimiter({ limit: 2, windowMs: 4 });
        const one = cold('a-b|').pipe(rateLimit({ limiter, overflow: 'queue' }));
        const two = cold('-c-d|').pipe(rateLimit({ limiter, overflow: 'queue' }));
        expectObservable(one).toBe('a---(b|)');
        expectObservable(two).toBe('-c---(d|)');
      }),
    );
  });

  describe("overflow 'error'", () => {
    it(
      'errors with RateLimitExceededError carrying retryAfterMs',
      marbles(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('ab-c|');
        const limited = source.pipe(rateLimit({ limit: 2, windowMs: 5, overflow: 'error' }));
        expectObservable(limited).toBe('ab-#', undefined, new RateLimitExceededError(2));
        expectSubscriptions(source.subscriptions).toBe('^--!');
      }),
    );

    it(
      'completes when every value is within the limit',
      marbles(({ cold, expectObservable }) => {
        const limited = cold('a---b---c|').pipe(
          rateLimit({ limit: 1, windowMs: 4, overflow: 'error' }),
        );
        expectObservable(limited).toBe('a---b---c|');
      }),
    );
  });

  it('stops a synchronous firehose when the output is unsubscribed', () => {
    let pulled = 0;
    const seen: number[] = [];
    range(0, 1e9)
      .pipe(
        tap(() => pulled++),
        rateLimit({ limit: 1e6, windowMs: 1000 }),
        take(3),
      )
      .subscribe((x) => seen.push(x));
    expect(seen).to.deep.equal([0, 1, 2]);
    expect(pulled).to.equal(3);
  });

  it('keeps one timer at a time and cancels it on unsubscribe', () => {
    const scheduler = new VirtualTimeScheduler();
    const input = new Subject<number>();
    const subscription = input
      .pipe(rateLimit({ limit: 1, windowMs: 10, overflow: 'queue', scheduler }))
      .subscribe();
    for (let i = 0; i < 5; i++) input.next(i);
    expect(scheduler.actions).to.have.length(1);
    subscription.unsubscribe();
    expect(scheduler.actions).to.have.length(0);
    expect(input.observed).to.equal(false);
  });
});
