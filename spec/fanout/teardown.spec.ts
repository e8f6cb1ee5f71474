/**
 * Unsubscribing, erroring or completing releases everything: no pending timer, every inner
 * subscription closed, every permit back, the limiter's `available$` unsubscribed.
 */
import { expect } from 'chai';
import sinon from 'sinon';
import {
  map,
  NEVER,
  Observable,
  range,
  Subject,
  timer,
  type ObservableInput,
  type OperatorFunction,
} from 'rxjs';
import {
  fanIn,
  fanOut,
  fanOutByKey,
  type ConcurrencyLimit,
  type Permit,
} from '../../lib/fanout/index.js';

class CountingLimit implements ConcurrencyLimit {
  inflight = 0;
  readonly available = new Subject<void>();
  readonly available$ = this.available.asObservable();
  constructor(readonly limit: number) {}
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
}

type Variant = (
  work: (v: number) => ObservableInput<number>,
  limit: CountingLimit,
) => OperatorFunction<number, number>;

const variants: Record<string, Variant> = {
  'fanOut(work, 3)': (work) => fanOut(work, 3),
  'fanOut ordered': (work) => fanOut(work, { concurrency: 3, ordered: true }),
  "fanOut errors: 'collect'": (work) => fanOut(work, { concurrency: 3, errors: 'collect' }),
  'fanOut with a ConcurrencyLimit': (work, limit) => fanOut(work, { concurrency: limit }),
  'fanOut ordered with a ConcurrencyLimit': (work, limit) =>
    fanOut(work, { concurrency: limit, ordered: true }),
  'fanOutByKey(key, work, 3)': (work) => fanOutByKey((v: number) => v % 2, work, 3),
  'fanOutByKey with a ConcurrencyLimit': (work, limit) =>
    fanOutByKey((v: number) => v % 5, work, { concurrency: limit }),
};

describe('fanout: teardown releases everything', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });
  afterEach(() => clock.restore());

  for (const [name, variant] of Object.entries(variants)) {
    it(`${name}: unsubscribing mid-run leaves no timer, inner, permit or available$ observer`, () => {
      const limit = new CountingLimit(3);
      let liveInners = 0;
      const work = (v: number) =>
        new Observable<number>((subscriber) => {
          liveInners++;
          const inner = timer(1000 * (1 + (v % 3))).subscribe(() => subscriber.next(v));
          return () => {
            liveInners--;
            inner.unsubscribe();
          };
        });
      const subscription = range(0, 20).pipe(variant(work, limit)).subscribe();
      clock.tick(1500);
      expect(clock.countTimers()).to.be.greaterThan(0);
      expect(liveInners).to.be.greaterThan(0);
      subscription.unsubscribe();
      expect(clock.countTimers()).to.equal(0);
      expect(liveInners).to.equal(0);
      expect(limit.inflight).to.equal(0);
      expect(limit.available.observed).to.equal(false);
    });

    it(`${name}: after completing, no timer is pending and nothing is held`, () => {
      const limit = new CountingLimit(2);
      const seen: number[] = [];
      let completed = false;
      range(0, 10)
        .pipe(variant((v) => timer(100 * (1 + (v % 4))).pipe(map(() => v)), limit))
        .subscribe({ next: (v) => seen.push(v), complete: () => (completed = true) });
      clock.runAll();
      expect(completed).to.equal(true);
      expect(seen).to.have.length(10);
      expect(clock.countTimers()).to.equal(0);
      expect(limit.inflight).to.equal(0);
      expect(limit.available.observed).to.equal(false);
    });
  }

  it('fail-fast inner error: the other inners and their timers are torn down', () => {
    let liveInners = 0;
    const work = (v: number) =>
      v === 2
        ? timer(500).pipe(
            map((): number => {
              throw new Error('boom');
            }),
          )
        : new Observable<number>(() => {
            liveInners++;
            const t = setTimeout(() => undefined, 10_000);
            return () => {
              liveInners--;
              clearTimeout(t);
            };
          });
    let failure: unknown;
    range(0, 5)
      .pipe(fanOut(work, 4))
      .subscribe({ error: (e) => (failure = e) });
    expect(liveInners).to.equal(3);
    clock.tick(500);
    expect((failure as Error).message).to.equal('boom');
    expect(liveInners).to.equal(0);
    expect(clock.countTimers()).to.equal(0);
  });

  it('overflow error: running inners are torn down', () => {
    let liveInners = 0;
    const work = () =>
      new Observable<number>(() => {
        liveInners++;
        return () => liveInners--;
      });
    let failure: unknown;
    range(0, 10)
      .pipe(fanOut(work, { concurrency: 2, maxBuffered: 3 }))
      .subscribe({ error: (e) => (failure = e) });
    expect((failure as Error).name).to.equal('BufferOverflowError');
    expect(liveInners).to.equal(0);
  });

  it('fanIn: unsubscribing tears every source down', () => {
    const subscription = fanIn(timer(1000), timer(2000), NEVER).subscribe();
    expect(clock.countTimers()).to.equal(2);
    subscription.unsubscribe();
    expect(clock.countTimers()).to.equal(0);
  });
});
