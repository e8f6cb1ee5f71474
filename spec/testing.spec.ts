import { expect } from 'chai';
import { map } from 'rxjs';
import { rateLimit } from '../lib/index.js';
import { MarbleAssertionError, createTestScheduler, marbles } from '../lib/testing/index.js';

describe('rxjs-concurrency/testing', () => {
  it(
    'marbles() runs a body in virtual time',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b|');
      expectObservable(source.pipe(map((x) => x.toUpperCase()))).toBe('-A-B|');
      expectSubscriptions(source.subscriptions).toBe('^---!');
    }),
  );

  it('fails with a readable diff when marbles differ', () => {
    const scheduler = createTestScheduler();
    expect(() =>
      scheduler.run(({ cold, expectObservable }) => {
        expectObservable(cold('-a|')).toBe('-b|');
      }),
    ).to.throw(MarbleAssertionError, /actual: {3}1:"a" 2:complete\n {2}expected: 1:"b" 2:complete/);
  });

  it(
    'the README example: rateLimit queues past the limit',
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('abc|');
      expectObservable(source.pipe(rateLimit({ limit: 2, windowMs: 5, overflow: 'queue' }))).toBe(
        'ab---(c|)',
      );
      expectSubscriptions(source.subscriptions).toBe('^--!');
    }),
  );
});
