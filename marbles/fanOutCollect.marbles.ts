/** fanOut with `errors: 'collect'`: inner errors are gathered into one AggregateError at the end. */
import { catchError, of, type Observable } from 'rxjs';
import { marbles } from '../lib/testing/index.js';
import { fanOut } from '../lib/fanout/index.js';

/** Turns an AggregateError into a value listing its errors' messages, in order. */
const summarise = <T>(source: Observable<T>) =>
  source.pipe(
    catchError((error: unknown) =>
      of(
        error instanceof AggregateError
          ? `Aggregate[${(error.errors as Error[]).map((e) => e.message).join(',')}]`
          : `other: ${String(error)}`,
      ),
    ),
  );

describe("fanOut errors: 'collect'", () => {
  it(
    'keeps going after inner errors and errors at the end with all of them, in the order they happened',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold('     ---#   ', undefined, new Error('a failed'));
      const b = cold('      -#    ', undefined, new Error('b failed'));
      const c = cold('          -3|');
      const outer = hot('  ab--c|  ');
      const inners: Record<string, typeof a> = { a, b, c };
      const result = outer.pipe(fanOut((v) => inners[v], { concurrency: 2, errors: 'collect' }));
      expectObservable(summarise(result)).toBe('-----3(x|)', {
        3: '3',
        x: 'Aggregate[b failed,a failed]',
      });
      expectSubscriptions(outer.subscriptions).toBe('^----!');
      expectSubscriptions(a.subscriptions).toBe('^--!');
      expectSubscriptions(b.subscriptions).toBe('-^!');
      expectSubscriptions(c.subscriptions).toBe('----^-!');
    }),
  );

  it(
    'completes normally when no inner failed',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold(' -x|');
      const outer = hot('  a-b|');
      const result = outer.pipe(fanOut(() => inner, { concurrency: 1, errors: 'collect' }));
      expectObservable(result).toBe('-x-x|');
      expectSubscriptions(inner.subscriptions).toBe(['^-!', '--^-!']);
    }),
  );

  it(
    'a throwing work call is collected like an inner error',
    marbles(({ cold, hot, expectObservable }) => {
      const inner = cold(' -x|');
      const outer = hot('  ab|');
      const work = (v: string) => {
        if (v === 'a') throw new Error('work threw');
        return inner;
      };
      const result = outer.pipe(fanOut(work, { concurrency: 1, errors: 'collect' }));
      expectObservable(summarise(result)).toBe('--x(y|)', { x: 'x', y: 'Aggregate[work threw]' });
    }),
  );

  it(
    'an outer error is still forwarded at once, unsubscribing running inners',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold('     -#      ', undefined, new Error('a failed'));
      const b = cold('      ------x|');
      const outer = hot('  ab-#    ', undefined, new Error('outer failed'));
      const inners: Record<string, typeof a> = { a, b };
      const result = outer.pipe(fanOut((v) => inners[v], { concurrency: 2, errors: 'collect' }));
      expectObservable(result).toBe('---#', undefined, new Error('outer failed'));
      expectSubscriptions(outer.subscriptions).toBe('^--!');
      expectSubscriptions(a.subscriptions).toBe('^!');
      expectSubscriptions(b.subscriptions).toBe('-^-!');
    }),
  );

  it(
    'ordered: a failed inner still emits the values it produced, in its turn',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold('     ----1|   ');
      const b = cold('      -2#     ', undefined, new Error('b failed'));
      const c = cold('       -3|    ');
      const outer = hot('  abc|     ');
      const inners: Record<string, typeof a> = { a, b, c };
      const result = outer.pipe(
        fanOut((v) => inners[v], { concurrency: 3, ordered: true, errors: 'collect' }),
      );
      expectObservable(summarise(result)).toBe('----1(23x|)', {
        1: '1',
        2: '2',
        3: '3',
        x: 'Aggregate[b failed]',
      });
      expectSubscriptions(b.subscriptions).toBe('-^-!');
      expectSubscriptions(c.subscriptions).toBe('--^-!');
    }),
  );
});
