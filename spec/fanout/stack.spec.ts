/**
 * fanOut, fanOutByKey and fanIn never recurse per item: long backlogs of synchronous inners
 * drain in a loop with a flat stack (RxJS issues 3609, 4055, 7334), and a synchronous infinite
 * source stops as soon as the output is unsubscribed.
 */
import { expect } from 'chai';
import {
  concatMap,
  EMPTY,
  from,
  ignoreElements,
  lastValueFrom,
  mergeMap,
  Observable,
  of,
  range,
  take,
  timer,
  toArray,
  type ObservableInput,
  type OperatorFunction,
} from 'rxjs';
import { fanIn, fanOut, fanOutByKey } from '../../lib/fanout/index.js';

/** Frames on the stack right now. */
function stackDepth(): number {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = Infinity;
  const depth = (new Error().stack ?? '').split('\n').length;
  Error.stackTraceLimit = limit;
  return depth;
}

/** Runs `source` to completion, sampling the stack depth in `work` every 997th call. */
async function depthsOf(
  items: number,
  operator: (work: (v: number) => ObservableInput<number>) => OperatorFunction<number, number>,
  firstIsAsync: boolean,
): Promise<{ count: number; min: number; max: number }> {
  const depths: number[] = [];
  let count = 0;
  const work = (v: number): ObservableInput<number> => {
    if (v % 997 === 1) depths.push(stackDepth());
    return firstIsAsync && v === 0 ? timer(5).pipe(ignoreElements()) : of(v);
  };
  await new Promise<void>((resolve, reject) =>
    range(0, items)
      .pipe(operator(work))
      .subscribe({ next: () => count++, error: reject, complete: resolve }),
  );
  return { count, min: Math.min(...depths), max: Math.max(...depths) };
}

const variants: Record<
  string,
  (work: (v: number) => ObservableInput<number>) => OperatorFunction<number, number>
> = {
  'fanOut(work, 1)': (work) => fanOut(work, 1),
  'fanOut(work, 8)': (work) => fanOut(work, 8),
  'fanOut ordered': (work) => fanOut(work, { concurrency: 4, ordered: true }),
  "fanOut errors: 'collect'": (work) => fanOut(work, { concurrency: 2, errors: 'collect' }),
  'fanOutByKey, one key': (work) => fanOutByKey(() => 'same', work, { concurrency: 4 }),
  'fanOutByKey, many keys': (work) => fanOutByKey((v: number) => v % 10, work, { concurrency: 3 }),
};

describe('fanout: no recursion per item', () => {
  it('precondition: RxJS concatMap overflows the stack on range(0, 20000) behind one timer', async () => {
    const run = lastValueFrom(
      range(0, 20_000).pipe(concatMap((v) => (v === 0 ? timer(10) : EMPTY))),
      {
        defaultValue: 'completed',
      },
    );
    const outcome = await run.then(
      (value) => value,
      (error: unknown) => (error instanceof RangeError ? 'stack overflow' : String(error)),
    );
    expect(outcome).to.equal('stack overflow');
  });

  it('precondition: RxJS mergeMap(work, 1) silently never completes range(0, 3000) behind timer(5)', async () => {
    let settled = 'pending';
    range(0, 3_000)
      .pipe(mergeMap((v) => (v === 0 ? timer(5).pipe(ignoreElements()) : of(v)), 1))
      .subscribe({ error: () => (settled = 'error'), complete: () => (settled = 'complete') });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).to.equal('pending');
  });

  it('fanOut(work, 1) completes that same case: range(0, 20000) behind timer(10)', async () => {
    const result = await lastValueFrom(
      range(0, 20_000).pipe(
        fanOut((v) => (v === 0 ? timer(10) : EMPTY), 1),
        toArray(),
      ),
    );
    expect(result).to.deep.equal([0]);
  });

  for (const [name, operator] of Object.entries(variants)) {
    it(`${name}: 100,000 synchronous inners queued behind an async one run with a flat stack`, async () => {
      const { count, min, max } = await depthsOf(100_000, operator, true);
      expect(count).to.equal(99_999);
      expect(max - min, `stack depth varied from ${min} to ${max}`).to.be.below(20);
    });

    it(`${name}: 100,000 synchronous inners from a synchronous source run with a flat stack`, async () => {
      const { count, min, max } = await depthsOf(100_000, operator, false);
      expect(count).to.equal(100_000);
      expect(max - min, `stack depth varied from ${min} to ${max}`).to.be.below(20);
    });

    it(`${name}: a synchronous infinite source under take(3) stops after 3`, async () => {
      let emitted = 0;
      const firehose = new Observable<number>((subscriber) => {
        for (let i = 0; !subscriber.closed; i++) {
          emitted++;
          subscriber.next(i);
        }
      });
      const result = await lastValueFrom(
        firehose.pipe(
          operator((v) => of(v)),
          take(3),
          toArray(),
        ),
      );
      expect(result).to.deep.equal([0, 1, 2]);
      expect(emitted).to.equal(3);
    });
  }

  it('RxJS #7334 shape: concurrency 1 with synchronous EMPTY inners and a few async ones completes', async () => {
    let calls = 0;
    const result = await lastValueFrom(
      from(Array(6000).keys()).pipe(
        fanOut((k) => {
          calls++;
          return k % 1000 === 0 ? timer(1) : EMPTY;
        }, 1),
        toArray(),
      ),
    );
    expect(calls).to.equal(6000);
    expect(result).to.have.length(6);
  });

  it('fanIn of 10,000 synchronous sources completes with every value', async () => {
    const sources = Array.from({ length: 10_000 }, (_, i) => of(i));
    const result = await lastValueFrom(fanIn(...sources).pipe(toArray()));
    expect(result).to.have.length(10_000);
    expect(result[9_999]).to.equal(9_999);
  });

  it('fanIn: a synchronous infinite source under take(3) stops after 3 and later sources never start', async () => {
    let emitted = 0;
    let laterSubscribed = false;
    const firehose = new Observable<number>((subscriber) => {
      for (let i = 0; !subscriber.closed; i++) {
        emitted++;
        subscriber.next(i);
      }
    });
    const later = new Observable<number>(() => {
      laterSubscribed = true;
    });
    expect(await lastValueFrom(fanIn(firehose, later).pipe(take(3), toArray()))).to.deep.equal([
      0, 1, 2,
    ]);
    expect(emitted).to.equal(3);
    expect(laterSubscribed).to.equal(false);
  });
});
