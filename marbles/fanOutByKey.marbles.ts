/** fanOutByKey: one inner at a time per key, in arrival order; keys in parallel up to the limit. */
import { map } from 'rxjs';
import { BufferOverflowError } from '../lib/errors.js';
import { marbles } from '../lib/testing/index.js';
import { fanOutByKey } from '../lib/fanout/index.js';

// Values are `<key><n>`: x1, x2 share key x.
const values = { a: 'x1', b: 'y1', c: 'x2', d: 'y2', e: 'z1', f: 'x3' };
const keyOf = (v: string) => v[0];

describe('fanOutByKey', () => {
  it(
    'runs equal keys one at a time in arrival order and different keys in parallel',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold('  --w|    ');
      const outer = hot('   abcd|   ', values);
      const work = (v: string) => inner.pipe(map(() => v));
      expectObservable(outer.pipe(fanOutByKey(keyOf, work, { concurrency: 4 }))).toBe(
        '--ab-cd|',
        values,
      );
      expectSubscriptions(outer.subscriptions).toBe('^---!');
      expectSubscriptions(inner.subscriptions).toBe(['^--!', '-^--!', '---^--!', '----^--!']);
    }),
  );

  it(
    'bounds inners over all keys by concurrency',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold('  ---w|     ');
      const outer = hot('   (abe)|    ', values);
      const work = (v: string) => inner.pipe(map(() => v));
      expectObservable(outer.pipe(fanOutByKey(keyOf, work, 2))).toBe('---(ab)e|', values);
      expectSubscriptions(inner.subscriptions).toBe(['^---!', '^---!', '----^---!']);
    }),
  );

  it(
    'serves keys waiting for a worker first come, first served; a finished key goes to the back',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold('  --w|     ');
      // x1 runs; y1, x2, z1 wait. x1 done: y1 (waited longest) runs; x's lane queues behind z.
      const outer = hot('   abce-----------|', values);
      const work = (v: string) => inner.pipe(map(() => v));
      expectObservable(outer.pipe(fanOutByKey(keyOf, work, 1))).toBe('--a--b--e--c---|', values);
      expectSubscriptions(inner.subscriptions).toBe([
        '^--!',
        '---^--!',
        '------^--!',
        '---------^--!',
      ]);
    }),
  );

  it(
    'drop-oldest drops the value that waited longest, whatever its key',
    marbles(({ cold, hot, expectObservable }) => {
      const inner = cold('  --w|      ');
      const outer = hot('   abcd-------|', values);
      const work = (v: string) => inner.pipe(map(() => v));
      const config = { concurrency: 1, maxBuffered: 2, overflow: 'drop-oldest' as const };
      // x1 runs; y1, x2 wait; y2 arrives: y1 (oldest) is dropped, y's lane queues anew and is
      // served before x's lane, which only queues when x1 is done.
      expectObservable(outer.pipe(fanOutByKey(keyOf, work, config))).toBe('--a--d--c--|', values);
    }),
  );

  it(
    "drop-newest drops the arriving value; 'error' errors with BufferOverflowError",
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold('  --w|      ');
      const outer = hot('   abcd-------|', values);
      const work = (v: string) => inner.pipe(map(() => v));
      const dropNewest = { concurrency: 1, maxBuffered: 2, overflow: 'drop-newest' as const };
      expectObservable(outer.pipe(fanOutByKey(keyOf, work, dropNewest))).toBe(
        '--a--b--c--|',
        values,
      );
      expectObservable(
        outer.pipe(fanOutByKey(keyOf, work, { concurrency: 1, maxBuffered: 2 })),
      ).toBe('--a#', values, new BufferOverflowError(2));
      expectSubscriptions(outer.subscriptions).toBe(['^----------!', '^--!']);
    }),
  );

  it(
    'an inner error fails fast, unsubscribing the outer and every other inner',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const ok = cold('     ----w|');
      const bad = cold('     -#   ');
      const outer = hot('   ab---|', values);
      const work = (v: string) => (v === 'y1' ? bad : ok.pipe(map(() => v)));
      expectObservable(outer.pipe(fanOutByKey(keyOf, work, 2))).toBe('--#');
      expectSubscriptions(outer.subscriptions).toBe('^-!');
      expectSubscriptions(ok.subscriptions).toBe('^-!');
      expectSubscriptions(bad.subscriptions).toBe('-^!');
    }),
  );

  it(
    'an outer error, a throwing keyOf and early unsubscription all tear everything down',
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold('  ----w|');
      const erroring = hot('a-#   ', values);
      const plain = hot('   a----b--|', values);
      const work = (v: string) => inner.pipe(map(() => v));
      expectObservable(erroring.pipe(fanOutByKey(keyOf, work, 2))).toBe('--#');
      const throwing = (v: string) => {
        if (v === 'y1') throw new Error('no key');
        return v;
      };
      expectObservable(plain.pipe(fanOutByKey(throwing, work, 2))).toBe(
        '----a#',
        values,
        new Error('no key'),
      );
      expectObservable(plain.pipe(fanOutByKey(keyOf, work, 2)), '--!').toBe('---');
      expectSubscriptions(erroring.subscriptions).toBe('^-!');
      expectSubscriptions(plain.subscriptions).toBe(['^----!', '^-!']);
      expectSubscriptions(inner.subscriptions).toBe(['^-!', '^----!', '^-!']);
    }),
  );
});
