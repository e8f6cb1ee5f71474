/**
 * Properties over random inputs, in virtual time:
 * - unordered fanOut emits exactly what mergeMap emits, in the same order (parity);
 * - ordered fanOut (RxJS issue 5519, "concatMapEager"): input order, at most `concurrency`
 *   inners subscribed, and inners do overlap;
 * - fanOutByKey: per-key arrival order, one inner per key, at most `concurrency` overall;
 * - a ConcurrencyLimit changed at random moments (RxJS issue 6036) is never exceeded.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { defer, finalize, map, mergeMap, range, Subject, take, timer, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { fanOut, fanOutByKey, type ConcurrencyLimit, type Permit } from '../../lib/fanout/index.js';

const item = fc.record({
  delay: fc.integer({ min: 0, max: 6 }),
  count: fc.integer({ min: 0, max: 3 }),
  key: fc.integer({ min: 0, max: 3 }),
});
type Item = { delay: number; count: number; key: number };

describe('fanout: properties', () => {
  it('unordered fanOut emits exactly what mergeMap emits, frame for frame', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 12 }), fc.integer({ min: 1, max: 4 }), (items, n) => {
        const run = (operator: 'fanOut' | 'mergeMap') => {
          const scheduler = new TestScheduler(() => undefined);
          const out: string[] = [];
          scheduler.run(({ cold }) => {
            const source = cold(items.map(() => 'x').join('') + '|').pipe(map((_, i) => i));
            const work = (i: number) => timedInner(items[i], i);
            const op = operator === 'fanOut' ? fanOut(work, n) : mergeMap(work, n);
            source.pipe(op).subscribe({
              next: (v) => out.push(`${scheduler.now()}:${v}`),
              complete: () => out.push(`${scheduler.now()}:complete`),
            });
          });
          return out;
        };
        expect(run('fanOut')).to.deep.equal(run('mergeMap'));
      }),
      { numRuns: 150 },
    );
  });

  it('ordered fanOut: input order, at most `concurrency` inners subscribed, and they overlap', () => {
    let sawOverlap = false;
    fc.assert(
      fc.property(fc.array(item, { maxLength: 12 }), fc.integer({ min: 1, max: 4 }), (items, n) => {
        const scheduler = new TestScheduler(() => undefined);
        const out: string[] = [];
        let active = 0;
        let peak = 0;
        scheduler.run(() => {
          const work = (i: number) =>
            defer(() => {
              peak = Math.max(peak, ++active);
              return timedInner(items[i], i);
            }).pipe(finalize(() => active--));
          range(0, items.length)
            .pipe(fanOut(work, { concurrency: n, ordered: true }))
            .subscribe((v) => out.push(v));
        });
        const expected = items.flatMap((it, i) =>
          Array.from({ length: it.count }, (_, k) => `${i}.${k}`),
        );
        expect(out).to.deep.equal(expected);
        expect(peak).to.be.at.most(n);
        if (peak > 1) sawOverlap = true;
      }),
      { numRuns: 150 },
    );
    expect(sawOverlap).to.equal(true);
  });

  it('fanOutByKey: per-key arrival order, one inner per key, at most `concurrency` overall', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 14 }), fc.integer({ min: 1, max: 3 }), (items, n) => {
        const scheduler = new TestScheduler(() => undefined);
        const started: number[] = [];
        const activeByKey = new Map<number, number>();
        let active = 0;
        let peak = 0;
        let completed = false;
        scheduler.run(() => {
          const work = (i: number) =>
            defer(() => {
              const key = items[i].key;
              activeByKey.set(key, (activeByKey.get(key) ?? 0) + 1);
              expect(activeByKey.get(key)).to.equal(1);
              peak = Math.max(peak, ++active);
              started.push(i);
              return timedInner(items[i], i);
            }).pipe(
              finalize(() => {
                active--;
                activeByKey.set(items[i].key, activeByKey.get(items[i].key)! - 1);
              }),
            );
          range(0, items.length)
            .pipe(fanOutByKey((i) => items[i].key, work, n))
            .subscribe({ complete: () => (completed = true) });
        });
        expect(completed).to.equal(true);
        expect(peak).to.be.at.most(n);
        expect([...started].sort((a, b) => a - b)).to.deep.equal(items.map((_, i) => i));
        for (let key = 0; key <= 3; key++) {
          const order = started.filter((i) => items[i].key === key);
          expect(order).to.deep.equal([...order].sort((a, b) => a - b));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('a ConcurrencyLimit changed at random moments is never exceeded, and every item runs', () => {
    fc.assert(
      fc.property(
        fc.array(item, { minLength: 1, maxLength: 14 }),
        fc.array(
          fc.record({ at: fc.integer({ min: 0, max: 30 }), limit: fc.integer({ min: 1, max: 4 }) }),
          {
            maxLength: 5,
          },
        ),
        fc.boolean(),
        (items, changes, ordered) => {
          const scheduler = new TestScheduler(() => undefined);
          const limit = new ChangingLimit(2);
          let started = 0;
          let completed = false;
          scheduler.run(() => {
            for (const change of changes) {
              scheduler.schedule(() => limit.setLimit(change.limit), change.at);
            }
            const work = (i: number) =>
              defer(() => {
                started++;
                expect(limit.inflight).to.be.at.most(limit.limit);
                return timedInner({ ...items[i], delay: Math.max(1, items[i].delay) }, i);
              });
            range(0, items.length)
              .pipe(fanOut(work, { concurrency: limit, ordered }))
              .subscribe({ complete: () => (completed = true) });
          });
          expect(started).to.equal(items.length);
          expect(completed).to.equal(true);
          expect(limit.inflight).to.equal(0);
        },
      ),
      { numRuns: 150 },
    );
  });
});

/** An inner that emits `count` values, one every `delay` frames (synchronously when 0). */
function timedInner(it: Item, index: number): Observable<string> {
  const label = (k: number) => `${index}.${k}`;
  if (it.delay === 0) return range(0, it.count).pipe(map(label));
  return timer(it.delay, it.delay).pipe(take(it.count), map(label));
}

/** A ConcurrencyLimit whose limit the test changes; raising it announces availability. */
class ChangingLimit implements ConcurrencyLimit {
  inflight = 0;
  private readonly available = new Subject<void>();
  readonly available$ = this.available.asObservable();
  constructor(public limit: number) {}
  tryAcquire(): Permit | null {
    if (this.inflight >= this.limit) return null;
    this.inflight++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.inflight--;
        this.available.next();
      },
    };
  }
  setLimit(limit: number): void {
    const raised = limit > this.limit;
    this.limit = limit;
    if (raised) this.available.next();
  }
}
