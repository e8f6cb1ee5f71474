import { expect } from 'chai';
import { Subject, type SchedulerLike } from 'rxjs';
import type { BrokenCircuitError } from '../../lib/errors.js';
import { isBrokenCircuitError } from '../../lib/errors.js';
import {
  CircuitBreaker,
  circuitBreaker,
  type CircuitBreakerConfig,
  type CircuitState,
} from '../../lib/resilience/index.js';
import { ManualClock } from './manualClock.js';

const fail = () => Promise.reject(new Error('boom'));
const ok = () => Promise.resolve(1);

async function refusal(promise: Promise<unknown>): Promise<BrokenCircuitError> {
  try {
    await promise;
  } catch (e) {
    if (isBrokenCircuitError(e)) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('CircuitBreaker', () => {
  let clock: ManualClock;
  const create = (config: CircuitBreakerConfig = {}) =>
    new CircuitBreaker({ scheduler: clock, ...config });
  beforeEach(() => {
    clock = new ManualClock();
  });

  describe('execute', () => {
    it('returns the value of fn and passes its error through', async () => {
      const b = create();
      expect(await b.execute(() => 42)).to.equal(42);
      expect(await b.execute(async () => 'x')).to.equal('x');
      const error = await b.execute(fail).catch((e: unknown) => e);
      expect((error as Error).message).to.equal('boom');
      expect(b.stats()).to.include({ admitted: 3, successes: 2, failures: 1 });
    });

    it('rejects a non-function without counting it', async () => {
      const b = create({ failureThreshold: 1 });
      const e = await b.execute(42 as never).catch((x: unknown) => x);
      expect(e).to.be.instanceOf(TypeError);
      expect(b.stats()).to.include({ admitted: 0, failures: 0, state: 'closed' });
    });

    it('records a synchronous throw as a failure', async () => {
      const b = create({ failureThreshold: 1 });
      const error = await b
        .execute(() => {
          throw new Error('sync');
        })
        .catch((e: unknown) => e);
      expect((error as Error).message).to.equal('sync');
      expect(b.state).to.equal('open');
    });

    it('refuses without calling fn while open, telling the time until half-open', async () => {
      const b = create({ failureThreshold: 2, openMs: 1000 });
      await b.execute(fail).catch(() => undefined);
      await b.execute(fail).catch(() => undefined);
      clock.advance(250);
      let called = false;
      const e = await refusal(
        b.execute(() => {
          called = true;
          return 1;
        }),
      );
      expect(called).to.equal(false);
      expect(e.state).to.equal('open');
      expect(e.retryAfterMs).to.equal(750);
      expect(b.stats()).to.include({ rejected: 1, retryAfterMs: 750, openings: 1 });
    });

    it('admits halfOpenMaxCalls concurrent trials and refuses the rest with half-open', async () => {
      const b = create({ failureThreshold: 1, openMs: 10, halfOpenMaxCalls: 2 });
      await b.execute(fail).catch(() => undefined);
      clock.advance(10);
      const gates: (() => void)[] = [];
      const trial = () =>
        b.execute(() => new Promise<number>((resolve) => gates.push(() => resolve(1))));
      const t1 = trial();
      const t2 = trial();
      const e = await refusal(trial());
      expect(e.state).to.equal('half-open');
      expect(b.stats().trialsInFlight).to.equal(2);
      gates.forEach((open) => open());
      expect(await Promise.all([t1, t2])).to.deep.equal([1, 1]);
      expect(b.state).to.equal('closed');
    });

    it('with slowCallMs, a slow success counts as a failure but resolves with its value', async () => {
      const b = create({ failureThreshold: 2, slowCallMs: 10 });
      const slowCall = async () => {
        let resolve!: (v: number) => void;
        const call = b.execute(() => new Promise<number>((r) => (resolve = r)));
        clock.advance(10);
        resolve(5);
        return call;
      };
      expect(await slowCall()).to.equal(5);
      expect(await b.execute(ok)).to.equal(1); // quick: resets the consecutive count
      expect(await slowCall()).to.equal(5);
      expect(b.state).to.equal('closed');
      await b.execute(fail).catch(() => undefined);
      expect(b.state).to.equal('open');
      expect(b.stats()).to.include({ slowCalls: 2, successes: 3, failures: 1 });
    });

    it('errors rejected by isFailure pass through uncounted', async () => {
      const notFound = Object.assign(new Error('404'), { status: 404 });
      const b = create({
        failureThreshold: 1,
        isFailure: (e) => (e as { status?: number }).status !== 404,
      });
      const e = await b.execute(() => Promise.reject(notFound)).catch((x: unknown) => x);
      expect(e).to.equal(notFound);
      expect(b.state).to.equal('closed');
      expect(b.stats()).to.include({ ignored: 1, failures: 0 });
    });
  });

  describe('state$', () => {
    it('emits the current state, then each transition once', async () => {
      const b = create({ failureThreshold: 1, openMs: 5 });
      const seen: CircuitState[] = [];
      const sub = b.state$.subscribe((s) => seen.push(s));
      b.reset(); // closed → closed: no emission
      await b.execute(fail).catch(() => undefined);
      clock.advance(5);
      await b.execute(ok);
      sub.unsubscribe();
      expect(seen).to.deep.equal(['closed', 'open', 'half-open', 'closed']);
    });

    it('keeps order when an observer causes a transition while being told of one', async () => {
      const b = create({ failureThreshold: 1, openMs: 100 });
      const seen: CircuitState[] = [];
      b.state$.subscribe((s) => {
        seen.push(s);
        if (s === 'open') b.reset();
      });
      const late: CircuitState[] = [];
      b.state$.subscribe((s) => late.push(s));
      await b.execute(fail).catch(() => undefined);
      expect(seen).to.deep.equal(['closed', 'open', 'closed']);
      expect(late).to.deep.equal(['closed', 'open', 'closed']);
    });

    it('waits at most 2^31 - 1 ms per timer for a restored opening further away', () => {
      const delays: number[] = [];
      const schedule = clock.schedule.bind(clock);
      const recording = Object.assign(Object.create(clock) as ManualClock, {
        schedule: (work: () => void, delay?: number) => {
          delays.push(delay ?? 0);
          return schedule(work, delay);
        },
      });
      const far = 3 * 2 ** 31;
      const b = new CircuitBreaker({
        scheduler: recording,
        initialState: { state: 'open', openings: 1, halfOpenAt: far },
      });
      const seen: CircuitState[] = [];
      const sub = b.state$.subscribe((s) => seen.push(s));
      clock.advance(far);
      sub.unsubscribe();
      // A longer delay fires at once in a real timer: it would spin re-arming.
      expect(delays.every((d) => d <= 2 ** 31 - 1)).to.equal(true);
      expect(delays).to.have.length(4);
      expect(seen).to.deep.equal(['open', 'half-open']);
    });

    it('sets no timer per call, and one timer only while observed and open', async () => {
      const b = create({ failureThreshold: 1, openMs: 50 });
      for (let i = 0; i < 100; i++) await b.execute(ok);
      expect(clock.pending).to.equal(0);
      await b.execute(fail).catch(() => undefined);
      expect(clock.pending).to.equal(0); // nobody observes: half-open is computed lazily
      const sub = b.state$.subscribe();
      const sub2 = b.state$.subscribe();
      expect(clock.pending).to.equal(1);
      sub.unsubscribe();
      expect(clock.pending).to.equal(1);
      sub2.unsubscribe();
      expect(clock.pending).to.equal(0);
      clock.advance(50);
      expect(b.state).to.equal('half-open');
    });
  });

  describe('isolate', () => {
    it('holds the circuit open until every handle is disposed, then closes', async () => {
      const b = create();
      const first = b.isolate();
      const second = b.isolate();
      expect(b.state).to.equal('open');
      const e = await refusal(b.execute(ok));
      expect(e.state).to.equal('isolated');
      first.dispose();
      first.dispose(); // idempotent: does not release the second hold
      expect(b.state).to.equal('open');
      b.reset(); // does not end an isolation either
      expect(b.state).to.equal('open');
      second.dispose();
      expect(b.state).to.equal('closed');
      expect(await b.execute(ok)).to.equal(1);
    });

    it('ignores outcomes of calls admitted before the isolation', async () => {
      const b = create({ failureThreshold: 1 });
      let reject!: (e: Error) => void;
      const pending = b.execute(() => new Promise((_r, j) => (reject = j)));
      const hold = b.isolate();
      hold.dispose();
      reject(new Error('late'));
      await pending.catch(() => undefined);
      expect(b.state).to.equal('closed');
    });
  });

  describe('reset', () => {
    it('closes and clears the counts; in-flight calls from before no longer count', async () => {
      const b = create({ failureThreshold: 2, openMs: 1000 });
      await b.execute(fail).catch(() => undefined);
      let reject!: (e: Error) => void;
      const pending = b.execute(() => new Promise((_r, j) => (reject = j)));
      b.reset();
      expect(b.stats().consecutiveFailures).to.equal(0);
      reject(new Error('stale'));
      await pending.catch(() => undefined);
      await b.execute(fail).catch(() => undefined);
      expect(b.state).to.equal('closed');
    });
  });

  describe('openMs backoff', () => {
    it('receives the consecutive opening number, reset by closing', async () => {
      const calls: number[] = [];
      const b = create({
        failureThreshold: 1,
        openMs: (n) => {
          calls.push(n);
          return 10 * n;
        },
      });
      calls.length = 0; // drop the validation call made at creation
      await b.execute(fail).catch(() => undefined); // open for 10
      clock.advance(10);
      await b.execute(fail).catch(() => undefined); // trial fails: open for 20
      expect((await refusal(b.execute(ok))).retryAfterMs).to.equal(20);
      clock.advance(20);
      await b.execute(ok); // closes
      await b.execute(fail).catch(() => undefined); // opening 1 again
      expect(calls).to.deep.equal([1, 2, 1]);
    });
  });

  describe('halfOpenMaxMs', () => {
    it('a hung trial reopens the circuit at the deadline, also when looked at much later', async () => {
      const b = create({ failureThreshold: 1, openMs: 10, halfOpenMaxMs: 5 });
      await b.execute(fail).catch(() => undefined); // open 0..10
      clock.advance(10);
      void b.execute(() => new Promise(() => undefined)); // trial at 10 never settles
      expect(b.stats().trialsInFlight).to.equal(1);
      clock.advance(20); // reopened at 15 (deadline) for 10 → half-open again since 25
      expect(b.state).to.equal('half-open');
      expect(b.stats()).to.include({ openings: 2, trialsInFlight: 0 });
      expect(await b.execute(ok)).to.equal(1);
      expect(b.state).to.equal('closed');
    });
  });

  describe('windows', () => {
    it('count window forgets calls beyond its size', async () => {
      const b = create({ window: { type: 'count', size: 3 }, failureRate: 0.6 });
      for (const f of [fail, ok, ok, ok]) await b.execute(f).catch(() => undefined);
      expect(b.stats()).to.include({ windowCalls: 3, windowFailures: 0, state: 'closed' });
      await b.execute(fail).catch(() => undefined); // [ok ok f] 1/3
      await b.execute(fail).catch(() => undefined); // [ok f f] 2/3 ≥ 0.6
      expect(b.state).to.equal('open');
    });

    it('checks the rate after every outcome: F F F S S on a count window of 5 opens at the last S', async () => {
      const b = create({ window: { type: 'count', size: 5 }, failureRate: 0.5, minimumCalls: 5 });
      for (const f of [fail, fail, fail, ok]) await b.execute(f).catch(() => undefined);
      expect(b.state).to.equal('closed'); // 4 calls: below minimumCalls
      await b.execute(ok); // 5 calls, 3 failed: 0.6 >= 0.5 (resilience4j opens here too)
      expect(b.state).to.equal('open');
    });

    it('a success recorded after older successes aged out of a time window can open it', async () => {
      const b = create({
        window: { type: 'time', ms: 100, buckets: 10 },
        failureRate: 0.6,
        minimumCalls: 2,
      });
      await b.execute(ok);
      await b.execute(ok); // t = 0
      clock.advance(50);
      await b.execute(fail).catch(() => undefined); // 1/3
      await b.execute(fail).catch(() => undefined); // 2/4 < 0.6
      clock.advance(55); // t = 105: the two successes have aged out
      await b.execute(ok); // [F F ok]: 2/3 >= 0.6
      expect(b.state).to.equal('open');
    });

    it('while open, stats() reports the window that opened the circuit', async () => {
      const b = create({ window: { type: 'count', size: 4 }, failureRate: 0.5, openMs: 10 });
      for (const f of [ok, fail, ok, fail]) await b.execute(f).catch(() => undefined);
      expect(b.stats()).to.include({ state: 'open', windowCalls: 4, windowFailures: 2 });
      clock.advance(10);
      expect(b.stats()).to.include({ state: 'half-open', windowCalls: 0, windowFailures: 0 });
      await b.execute(fail).catch(() => undefined); // the trial fails: open again
      expect(b.stats()).to.include({ state: 'open', windowCalls: 4, windowFailures: 2 });
      clock.advance(20);
      await b.execute(ok); // trial succeeds: closed, fresh window
      expect(b.stats()).to.include({ state: 'closed', windowCalls: 0, windowFailures: 0 });
    });

    it('time window subtracts buckets as they age out', async () => {
      const b = create({ window: { type: 'time', ms: 100, buckets: 4 }, minimumCalls: 100 });
      await b.execute(fail).catch(() => undefined);
      clock.advance(30);
      await b.execute(ok);
      expect(b.stats()).to.include({ windowCalls: 2, windowFailures: 1 });
      clock.advance(75); // t = 105: the bucket [0, 25) has aged out
      expect(b.stats()).to.include({ windowCalls: 1, windowFailures: 0 });
      clock.advance(1000);
      expect(b.stats()).to.include({ windowCalls: 0, windowFailures: 0 });
    });

    it('failureThreshold and window can be combined: either opens', async () => {
      const b = create({
        failureThreshold: 2,
        window: { type: 'count', size: 10 },
        failureRate: 0.5,
      });
      await b.execute(fail).catch(() => undefined);
      await b.execute(fail).catch(() => undefined);
      expect(b.state).to.equal('open');
    });
  });

  describe('toJSON / initialState', () => {
    it('round-trips open and half-open through JSON', async () => {
      const b = create({ failureThreshold: 1, openMs: 100 });
      expect(b.toJSON()).to.deep.equal({ state: 'closed' });
      clock.advance(1000);
      await b.execute(fail).catch(() => undefined);
      const saved = JSON.parse(JSON.stringify(b)) as ReturnType<CircuitBreaker['toJSON']>;
      expect(saved).to.deep.equal({ state: 'open', openings: 1, halfOpenAt: 1100 });
      const restored = create({ failureThreshold: 1, openMs: 100, initialState: saved });
      expect(restored.state).to.equal('open');
      expect((await refusal(restored.execute(ok))).retryAfterMs).to.equal(100);
      clock.advance(100);
      expect(restored.toJSON()).to.deep.equal({ state: 'half-open', openings: 1 });
      const again = create({ initialState: restored.toJSON() });
      expect(again.state).to.equal('half-open');
      await again.execute(ok);
      expect(again.state).to.equal('closed');
    });

    it('saves an isolated circuit as an ordinary opening', () => {
      const b = create({ openMs: 30 });
      b.isolate();
      expect(b.toJSON()).to.deep.equal({ state: 'open', openings: 1, halfOpenAt: 30 });
    });

    it('state$ of a hydrated breaker starts from the restored state', () => {
      const b = create({ initialState: { state: 'open', openings: 2, halfOpenAt: 5 } });
      const seen: CircuitState[] = [];
      const sub = b.state$.subscribe((s) => seen.push(s));
      clock.advance(5);
      sub.unsubscribe();
      expect(seen).to.deep.equal(['open', 'half-open']);
    });
  });

  describe('operator with a manual clock', () => {
    it('unsubscribing a trial returns its slot without recording', () => {
      const b = create({ failureThreshold: 1, openMs: 1 });
      new Subject<number>().pipe(circuitBreaker(b)).subscribe({ error: () => undefined });
      const first = new Subject<number>();
      first.pipe(circuitBreaker(b)).subscribe({ error: () => undefined });
      first.error(new Error('x'));
      clock.advance(1);
      const trial = new Subject<number>().pipe(circuitBreaker(b)).subscribe();
      expect(b.stats().trialsInFlight).to.equal(1);
      trial.unsubscribe();
      expect(b.stats()).to.include({ trialsInFlight: 0, state: 'half-open', cancelled: 1 });
    });
  });

  describe('configuration errors', () => {
    const bad: [CircuitBreakerConfig, ErrorConstructor | RangeErrorConstructor, RegExp][] = [
      [{ failureThreshold: 0 }, RangeError, /failureThreshold must be an integer >= 1, got 0/],
      [{ failureThreshold: 1.5 }, RangeError, /failureThreshold/],
      [{ window: { type: 'count', size: 0 } }, RangeError, /window.size/],
      [{ window: { type: 'sliding' } as never }, RangeError, /window.type/],
      [{ window: { type: 'time', ms: 0, buckets: 2 } }, RangeError, /window.ms/],
      [{ window: { type: 'time', ms: 100, buckets: 0 } }, RangeError, /window.buckets/],
      [{ window: { type: 'count', size: 5 }, failureRate: 0 }, RangeError, /failureRate/],
      [{ window: { type: 'count', size: 5 }, failureRate: 1.5 }, RangeError, /failureRate/],
      [{ window: { type: 'count', size: 5 }, minimumCalls: 6 }, RangeError, /minimumCalls/],
      [{ failureRate: 0.5 }, TypeError, /failureRate 0.5 needs a window/],
      [{ failureRate: 2 }, RangeError, /failureRate must be a finite number > 0 and <= 1, got 2/],
      [{ minimumCalls: 3 }, TypeError, /minimumCalls 3 needs a window/],
      [{ faliureRate: 0.5 } as never, TypeError, /unknown option "faliureRate"/],
      [
        { window: { type: 'count', size: 5, ms: 10 } as never },
        TypeError,
        /window has an unknown option "ms"/,
      ],
      [
        { window: { type: 'time', ms: 10, buckets: 2, size: 3 } as never },
        TypeError,
        /window has an unknown option "size"/,
      ],
      [
        { window: { type: 'count', size: 2 ** 31 } },
        RangeError,
        /window.size must be an integer >= 1 and <= 1000000, got 2147483648/,
      ],
      [
        { window: { type: 'time', ms: 2 ** 31, buckets: 2 } },
        RangeError,
        /window.ms .* got 2147483648/,
      ],
      [
        { openMs: 2 ** 31 },
        RangeError,
        /openMs must be a finite number >= 0 and <= 2147483647, got 2147483648/,
      ],
      [{ openMs: () => 2 ** 31 }, RangeError, /openMs\(1\) .* got 2147483648/],
      [{ halfOpenMaxMs: 2 ** 31 }, RangeError, /halfOpenMaxMs .* got 2147483648/],
      [{ slowCallMs: 2 ** 31 }, RangeError, /slowCallMs .* got 2147483648/],
      [
        { initialState: { state: 'closed', openings: 1 } as never },
        TypeError,
        /initialState has an unknown option "openings"/,
      ],
      [
        { initialState: { state: 'half-open', openings: 1, halfOpenAt: 3 } as never },
        TypeError,
        /initialState has an unknown option "halfOpenAt"/,
      ],
      [{ openMs: -1 }, RangeError, /openMs/],
      [{ openMs: '10' as never }, TypeError, /openMs/],
      [{ openMs: () => NaN }, RangeError, /openMs\(1\)/],
      [{ halfOpenMaxCalls: 0 }, RangeError, /halfOpenMaxCalls/],
      [{ successThreshold: 0 }, RangeError, /successThreshold/],
      [{ halfOpenMaxMs: 0 }, RangeError, /halfOpenMaxMs/],
      [{ slowCallMs: -5 }, RangeError, /slowCallMs/],
      [{ isFailure: true as never }, TypeError, /isFailure/],
      [{ scheduler: {} as SchedulerLike }, TypeError, /scheduler/],
      [{ initialState: { state: 'broken' } as never }, RangeError, /initialState.state/],
      [{ initialState: { state: 'open', openings: 0, halfOpenAt: 1 } }, RangeError, /openings/],
      [{ initialState: { state: 'open', openings: 1 } as never }, TypeError, /halfOpenAt/],
    ];
    for (const [config, type, message] of bad) {
      it(`rejects ${JSON.stringify(config)}`, () => {
        expect(() => new CircuitBreaker(config)).to.throw(type, message);
      });
    }

    it('rejects a non-object config and a non-breaker operator argument', () => {
      expect(() => new CircuitBreaker(5 as never)).to.throw(TypeError, /config/);
      expect(() => circuitBreaker({} as CircuitBreaker)).to.throw(TypeError, /CircuitBreaker/);
      expect(() => circuitBreaker(new CircuitBreaker(), { successOn: 'next' as never })).to.throw(
        RangeError,
        /successOn/,
      );
      expect(() => circuitBreaker(new CircuitBreaker(), { fallback: 1 as never })).to.throw(
        TypeError,
        /fallback/,
      );
      expect(() => circuitBreaker(new CircuitBreaker(), { fallbak: () => [] } as never)).to.throw(
        TypeError,
        'circuitBreaker config has an unknown option "fallbak"',
      );
    });

    it('rejects a backoff that later returns a bad duration', async () => {
      const b = create({ failureThreshold: 1, openMs: (n) => (n === 1 ? 1 : -1) });
      await b.execute(fail).catch(() => undefined);
      clock.advance(1);
      const e = await b.execute(fail).catch((x: unknown) => x);
      expect(e).to.be.instanceOf(RangeError);
    });
  });
});
