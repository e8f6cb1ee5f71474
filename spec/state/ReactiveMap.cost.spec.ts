import { expect } from 'chai';
import { Session } from 'node:inspector/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ReactiveMap } from '../../lib/state/index.js';

/**
 * The cost of a change, counted rather than timed: V8's precise coverage (call-count mode)
 * gives the exact number of JavaScript function calls made while `work` runs, in every script
 * (ReactiveMap, RxJS, the listeners). Delivering a change to a listener takes several calls
 * (Subscriber.next and its observer), so a change that touched every watcher shows up as
 * calls proportional to the watchers, whatever the implementation does inside.
 */
class CallCounter {
  readonly #session = new Session();

  async start(): Promise<void> {
    this.#session.connect();
    await this.#session.post('Profiler.enable');
    await this.#session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false });
  }

  async stop(): Promise<void> {
    await this.#session.post('Profiler.stopPreciseCoverage');
    await this.#session.post('Profiler.disable');
    this.#session.disconnect();
  }

  /** Function calls made by `work` (the counters are reset by each take). */
  async callsDuring(work: () => void): Promise<number> {
    await this.#session.post('Profiler.takePreciseCoverage');
    work();
    const { result } = await this.#session.post('Profiler.takePreciseCoverage');
    let calls = 0;
    for (const script of result) for (const fn of script.functions) calls += fn.ranges[0].count;
    return calls;
  }
}

const STORES = 100;
const storeMany = (map: ReactiveMap<string, number>) => () => {
  for (let i = 0; i < STORES; i++) map.store('hot', i);
};

function mapWith({ otherKeys = 0, sameKey = 0, changes = 0 }): ReactiveMap<string, number> {
  const map = new ReactiveMap<string, number>();
  for (let i = 0; i < otherKeys; i++) map.watch(`cold-${i}`).subscribe();
  for (let i = 0; i < sameKey; i++) map.watch('hot').subscribe();
  for (let i = 0; i < changes; i++) map.changes$.subscribe();
  return map;
}

describe('ReactiveMap: cost of a change (function calls, not time)', () => {
  const counter = new CallCounter();
  before(() => counter.start());
  after(() => counter.stop());

  it('does not grow with watchers of other keys', async () => {
    const none = await counter.callsDuring(storeMany(mapWith({})));
    const many = await counter.callsDuring(storeMany(mapWith({ otherKeys: 5_000 })));
    // The old map called every watcher's filter on every change: 4 calls x 5,000 x 100 more.
    expect(many - none).to.be.at.most(STORES, `${none} calls with none, ${many} with 5,000`);
  });

  it('grows with watchers of the changed key and with changes$ subscribers only', async () => {
    const base = await counter.callsDuring(storeMany(mapWith({ otherKeys: 1_000 })));
    const same = await counter.callsDuring(storeMany(mapWith({ otherKeys: 1_000, sameKey: 50 })));
    const changes = await counter.callsDuring(
      storeMany(mapWith({ otherKeys: 1_000, changes: 50 })),
    );
    const perDelivery = (calls: number) => (calls - base) / (STORES * 50);
    // One delivery is a handful of calls (Subscriber.next, its observer, the callback).
    for (const cost of [perDelivery(same), perDelivery(changes)]) {
      expect(cost).to.be.within(1, 8);
    }
  });

  it('does not grow with watchers that came and went', async () => {
    const map = new ReactiveMap<string, number>();
    const none = await counter.callsDuring(storeMany(map));
    for (let i = 0; i < 5_000; i++)
      map
        .watch(i % 2 ? 'hot' : `cold-${i}`)
        .subscribe()
        .unsubscribe();
    const after = await counter.callsDuring(storeMany(map));
    expect(after - none).to.be.at.most(STORES);
  });
});

describe('ReactiveMap: memory of watched keys', () => {
  it('keeps no reference to a key once its last watcher unsubscribed', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const map = new ReactiveMap<object, number>();
    // The key lives only inside this function, so nothing but the map could keep it alive.
    const watchAndLeave = (): WeakRef<object> => {
      const key = {};
      const first = map.watch(key).subscribe();
      const second = map.watch(key).subscribe();
      first.unsubscribe();
      second.unsubscribe();
      return new WeakRef(key);
    };
    const released = watchAndLeave();
    // A WeakRef target stays alive until the current job ends; then a full GC may clear it.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(released.deref()).to.equal(undefined);
  });
});
