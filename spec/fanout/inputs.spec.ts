/** fanOut accepts every ObservableInput `work` can return, with mergeMap's semantics. */
import { expect } from 'chai';
import {
  firstValueFrom,
  lastValueFrom,
  mergeMap,
  of,
  range,
  Subject,
  toArray,
  type ObservableInput,
} from 'rxjs';
import { fanIn, fanOut } from '../../lib/fanout/index.js';

async function* twice(v: number): AsyncGenerator<number> {
  yield v;
  yield v * 10;
}

const inputs: Record<string, (v: number) => ObservableInput<number>> = {
  Observable: (v) => of(v, v * 10),
  array: (v) => [v, v * 10],
  Set: (v) => new Set([v, v * 10]),
  'native Promise (one value)': (v) => Promise.resolve(v),
  thenable: (v) => ({ then: (resolve: (x: number) => void) => resolve(v) }) as PromiseLike<number>,
  'async iterable': (v) => twice(v),
};

describe('fanout: inner inputs', () => {
  for (const [name, work] of Object.entries(inputs)) {
    it(`${name}: same values as mergeMap, unordered and ordered`, async () => {
      const expected = await lastValueFrom(range(0, 20).pipe(mergeMap(work, 3), toArray()));
      const unordered = await lastValueFrom(range(0, 20).pipe(fanOut(work, 3), toArray()));
      const ordered = await lastValueFrom(
        range(0, 20).pipe(fanOut(work, { concurrency: 3, ordered: true }), toArray()),
      );
      expect([...unordered].sort((a, b) => a - b)).to.deep.equal(
        [...expected].sort((a, b) => a - b),
      );
      expect(ordered).to.deep.equal(
        await lastValueFrom(range(0, 20).pipe(mergeMap(work, 1), toArray())),
      );
    });
  }

  it('a rejected promise errors the output with its reason', async () => {
    const reason = new Error('rejected');
    const run = lastValueFrom(
      range(0, 3).pipe(fanOut((v) => (v === 1 ? Promise.reject(reason) : Promise.resolve(v)), 2)),
    );
    await run.then(
      () => expect.fail('should have errored'),
      (error: unknown) => expect(error).to.equal(reason),
    );
  });

  it('a promise that settles after unsubscription emits nothing', async () => {
    let resolve!: (v: number) => void;
    const seen: number[] = [];
    const subscription = of(1)
      .pipe(fanOut(() => new Promise<number>((r) => (resolve = r)), 1))
      .subscribe((v) => seen.push(v));
    subscription.unsubscribe();
    resolve(42);
    await Promise.resolve();
    await Promise.resolve();
    expect(seen).to.deep.equal([]);
  });

  it('an invalid input errors the output like mergeMap (TypeError)', async () => {
    const invalid = () => 42 as unknown as ObservableInput<number>;
    const ours = await firstValueFrom(of(1).pipe(fanOut(invalid, 1))).catch((e: unknown) => e);
    const theirs = await firstValueFrom(of(1).pipe(mergeMap(invalid, 1))).catch((e: unknown) => e);
    expect(ours).to.be.instanceOf(TypeError);
    expect((ours as Error).message).to.equal((theirs as Error).message);
  });

  it('a re-entrant source (a Subject fed from the output) is handled in order', async () => {
    const subject = new Subject<number>();
    const seen: number[] = [];
    subject.pipe(fanOut((v) => of(v), { concurrency: 1, ordered: true })).subscribe((v) => {
      seen.push(v);
      if (v < 5) subject.next(v + 1);
      else subject.complete();
    });
    subject.next(0);
    expect(seen).to.deep.equal([0, 1, 2, 3, 4, 5]);
  });

  it('fanIn(x) with one Observable returns x itself, as merge does', () => {
    const source = of(1, 2);
    expect(fanIn(source)).to.equal(source);
    // Anything else is converted: an array or a promise is not an Observable to return.
    expect(fanIn([1])).not.to.equal([1]);
  });
});
