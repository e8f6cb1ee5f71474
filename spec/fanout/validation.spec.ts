/** Options are validated when the operator is created; messages name the option and value. */
import { expect } from 'chai';
import { of, Subject } from 'rxjs';
import { fanOut, fanOutByKey, type ConcurrencyLimit } from '../../lib/fanout/index.js';

const work = (v: number) => of(v);
const keyOf = (v: number) => v;
const bad = (value: unknown) => value as number;

describe('fanout: validation at creation', () => {
  const badConcurrency: [unknown, typeof RangeError | typeof TypeError][] = [
    [0, RangeError],
    [-1, RangeError],
    [1.5, RangeError],
    [NaN, RangeError],
    [-Infinity, RangeError],
    ['x', TypeError],
    [null, TypeError],
    [undefined, TypeError],
  ];
  for (const [value, errorClass] of badConcurrency) {
    it(`concurrency ${String(value)} → ${errorClass.name} naming concurrency`, () => {
      const creators = [
        () => fanOut(work, bad(value)),
        () => fanOut(work, { concurrency: bad(value) }),
        () => fanOut(work, { concurrency: bad(value), ordered: true }),
        () => fanOutByKey(keyOf, work, bad(value)),
        () => fanOutByKey(keyOf, work, { concurrency: bad(value) }),
      ];
      for (const create of creators) {
        expect(create).to.throw(errorClass, /^concurrency must be an integer >= 1/);
      }
    });
  }

  it('concurrency: an object that is not a ConcurrencyLimit → TypeError', () => {
    expect(() => fanOut(work, { concurrency: {} as ConcurrencyLimit })).to.throw(
      TypeError,
      /concurrency must be .*ConcurrencyLimit/,
    );
  });

  it('accepts Infinity, integers and a ConcurrencyLimit', () => {
    const limit: ConcurrencyLimit = {
      limit: 1,
      inflight: 0,
      tryAcquire: () => null,
      available$: new Subject<void>(),
    };
    expect(() => fanOut(work, Infinity)).not.to.throw();
    expect(() => fanOut(work, { concurrency: 3, ordered: true, maxBuffered: 0 })).not.to.throw();
    expect(() => fanOut(work, { concurrency: limit })).not.to.throw();
    expect(() => fanOutByKey(keyOf, work, { concurrency: limit })).not.to.throw();
  });

  it('maxBuffered: -1, 1.5, NaN → RangeError; "3" → TypeError', () => {
    for (const value of [-1, 1.5, NaN]) {
      expect(() => fanOut(work, { concurrency: 1, maxBuffered: value })).to.throw(
        RangeError,
        /^maxBuffered must be an integer >= 0 or Infinity, got/,
      );
      expect(() => fanOutByKey(keyOf, work, { concurrency: 1, maxBuffered: value })).to.throw(
        RangeError,
        /^maxBuffered/,
      );
    }
    expect(() => fanOut(work, { concurrency: 1, maxBuffered: bad('3') })).to.throw(
      TypeError,
      /^maxBuffered/,
    );
  });

  it('overflow, errors and ordered must be one of their values', () => {
    const overflow = 'drop' as 'error';
    expect(() => fanOut(work, { concurrency: 1, overflow })).to.throw(
      RangeError,
      /^overflow must be one of 'error', 'drop-newest', 'drop-oldest', got "drop"/,
    );
    expect(() => fanOutByKey(keyOf, work, { concurrency: 1, overflow })).to.throw(
      RangeError,
      /^overflow/,
    );
    expect(() => fanOut(work, { concurrency: 1, errors: 'all' as 'collect' })).to.throw(
      RangeError,
      /^errors must be one of 'fail-fast', 'collect'/,
    );
    expect(() => fanOut(work, { concurrency: 1, ordered: 'yes' as unknown as boolean })).to.throw(
      TypeError,
      /^ordered must be a boolean/,
    );
  });

  it('work and keyOf must be functions', () => {
    const notAFunction = 'x' as unknown as typeof work;
    expect(() => fanOut(notAFunction, 1)).to.throw(TypeError, /^work must be a function/);
    expect(() => fanOutByKey(keyOf, notAFunction, 1)).to.throw(
      TypeError,
      /^work must be a function/,
    );
    expect(() => fanOutByKey(notAFunction, work, 1)).to.throw(
      TypeError,
      /^keyOf must be a function/,
    );
  });

  it('unknown option keys → TypeError naming the key (a misspelt option is not the default)', () => {
    const misspelt = { concurrency: 2, ordred: true } as unknown as { concurrency: number };
    expect(() => fanOut(work, misspelt)).to.throw(
      TypeError,
      'fanOut config has an unknown option "ordred"',
    );
    // ordered is a fanOut option only: fanOutByKey keeps arrival order per key by design.
    const ordered = { concurrency: 2, ordered: true } as unknown as { concurrency: number };
    expect(() => fanOutByKey(keyOf, work, ordered)).to.throw(
      TypeError,
      'fanOutByKey config has an unknown option "ordered"',
    );
  });
});
