/** fanOut's bound on waiting outer values: `maxBuffered` with each `overflow` policy. */
import { map } from 'rxjs';
import { BufferOverflowError } from '../lib/errors.js';
import { marbles } from '../lib/testing/index.js';
import { fanOut, type FanOutConfig } from '../lib/fanout/index.js';

describe('fanOut maxBuffered and overflow', () => {
  const config = (extra: Partial<FanOutConfig>): FanOutConfig => ({ concurrency: 1, ...extra });

  it(
    "'error' (the default): errors with BufferOverflowError when one more value would wait",
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold(' ---x|   ');
      const outer = hot('  abc---| ');
      const result = outer.pipe(
        fanOut((v: string) => inner.pipe(map(() => v)), config({ maxBuffered: 1 })),
      );
      expectObservable(result).toBe('--#', undefined, new BufferOverflowError(1));
      expectSubscriptions(outer.subscriptions).toBe('^-!');
      expectSubscriptions(inner.subscriptions).toBe('^-!');
    }),
  );

  it(
    "'drop-newest': the arriving value is dropped while the buffer is full",
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold(' --x|       ');
      const outer = hot('  abc-------|');
      const result = outer.pipe(
        fanOut(
          (v: string) => inner.pipe(map(() => v)),
          config({ maxBuffered: 1, overflow: 'drop-newest' }),
        ),
      );
      expectObservable(result).toBe('--a--b----|');
      expectSubscriptions(outer.subscriptions).toBe('^---------!');
      expectSubscriptions(inner.subscriptions).toBe(['^--!', '---^--!']);
    }),
  );

  it(
    "'drop-oldest': the value that waited longest makes room for the arriving one",
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold(' --x|       ');
      const outer = hot('  abc-------|');
      const result = outer.pipe(
        fanOut(
          (v: string) => inner.pipe(map(() => v)),
          config({ maxBuffered: 1, overflow: 'drop-oldest' }),
        ),
      );
      expectObservable(result).toBe('--a--c----|');
      expectSubscriptions(outer.subscriptions).toBe('^---------!');
      expectSubscriptions(inner.subscriptions).toBe(['^--!', '---^--!']);
    }),
  );

  it(
    'maxBuffered 0: only values that find a free worker run (throttled fan-out)',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold(' --x|     ');
      const outer = hot('  ab--c---|');
      for (const overflow of ['drop-newest', 'drop-oldest'] as const) {
        const result = outer.pipe(
          fanOut((v: string) => inner.pipe(map(() => v)), config({ maxBuffered: 0, overflow })),
        );
        expectObservable(result).toBe('--a---c-|');
      }
      expectSubscriptions(inner.subscriptions).toBe(['^--!', '^--!', '----^--!', '----^--!']);
    }),
  );

  it(
    'a full buffer drains in order as workers free up; ordered mode drops the same way',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold(' --x|         ');
      const outer = hot('  abcd--------|');
      const result = outer.pipe(
        fanOut(
          (v: string) => inner.pipe(map(() => v)),
          config({ concurrency: 2, ordered: true, maxBuffered: 1, overflow: 'drop-oldest' }),
        ),
      );
      expectObservable(result).toBe('--ab-d------|');
      expectSubscriptions(inner.subscriptions).toBe(['^--!', '-^--!', '---^--!']);
    }),
  );
});
