import { expect } from 'chai';
import type { Observable } from 'rxjs';
import { defer, lastValueFrom, mergeMap, of, throwError, timer, toArray } from 'rxjs';
import { BackendRejectedError, TimeoutError } from '../../lib/errors.js';
import { supervise, type SuperviseConfig } from '../../lib/resilience/index.js';
import { ManualClock } from './manualClock.js';

const ok: SuperviseConfig = { maxRestarts: 3, withinMs: 1_000, initialMs: 10, maxMs: 100 };
const reset = (n: number) => Object.assign(new Error(`reset ${n}`), { code: 'ECONNRESET' });

/** A source whose subscription k (1-based) fails with `fail(k)`, or completes when that is null. */
function failing(fail: (k: number) => unknown): {
  source: Observable<string>;
  count: () => number;
} {
  let k = 0;
  const source = defer(() => {
    const error = fail(++k);
    return error === null ? of('done') : throwError(() => error);
  });
  return { source, count: () => k };
}

/** Subscribes and records the outcome; the clock drives the backoff timers. */
function run(source: Observable<string>): { values: string[]; error: unknown; done: boolean } {
  const outcome = { values: [] as string[], error: undefined as unknown, done: false };
  source.subscribe({
    next: (v) => outcome.values.push(v),
    error: (e: unknown) => (outcome.error = e),
    complete: () => (outcome.done = true),
  });
  return outcome;
}

describe('supervise', () => {
  describe('options', () => {
    const rejects = (config: unknown, type: typeof Error, message: string) =>
      expect(() => supervise(config as SuperviseConfig)).to.throw(type, message);

    it('rejects bad values at creation, naming the option and the value', () => {
      rejects(undefined, TypeError, 'maxRestarts must be an integer >= 0, got undefined');
      rejects(
        { ...ok, maxRestarts: -1 },
        RangeError,
        'maxRestarts must be an integer >= 0, got -1',
      );
      rejects(
        { ...ok, maxRestarts: 1.5 },
        RangeError,
        'maxRestarts must be an integer >= 0, got 1.5',
      );
      rejects(
        { ...ok, maxRestarts: Infinity },
        RangeError,
        'maxRestarts must be an integer >= 0, got Infinity',
      );
      const window = 'withinMs must be a finite number > 0 and <= 2147483647 or Infinity';
      rejects({ ...ok, withinMs: 0 }, RangeError, `${window}, got 0`);
      rejects({ ...ok, withinMs: -5 }, RangeError, `${window}, got -5`);
      rejects({ ...ok, withinMs: 2 ** 31 }, RangeError, `${window}, got 2147483648`);
      rejects({ ...ok, withinMs: NaN }, RangeError, `${window}, got NaN`);
      rejects({ ...ok, withinMs: '1000' }, TypeError, `${window}, got "1000"`);
      rejects({ ...ok, withinMs: undefined }, TypeError, `${window}, got undefined`);
      rejects(
        { ...ok, initialMs: -1 },
        RangeError,
        'initialMs must be a finite number >= 0, got -1',
      );
      rejects(
        { ...ok, maxMs: 5 },
        RangeError,
        'maxMs must be a finite number >= 10 and <= 2147483647, got 5',
      );
      rejects(
        { ...ok, maxMs: 2 ** 31 },
        RangeError,
        'maxMs must be a finite number >= 10 and <= 2147483647, got 2147483648',
      );
      rejects({ ...ok, factor: 0.5 }, RangeError, 'factor must be a finite number >= 1, got 0.5');
      rejects(
        { ...ok, jitter: 'half' },
        RangeError,
        "jitter must be one of 'full', 'equal', 'decorrelated', 'none', got \"half\"",
      );
      rejects({ ...ok, random: 0.5 }, TypeError, 'random must be a function, got 0.5');
      rejects(
        { ...ok, shouldRestart: true },
        TypeError,
        'shouldRestart must be a function, got true',
      );
      rejects({ ...ok, scheduler: {} }, TypeError, 'scheduler must be a SchedulerLike');
      rejects(null, TypeError, 'supervise config must be an object, got null');
    });

    it('rejects unknown options, naming the key and the known ones', () => {
      rejects(
        { ...ok, maxRestart: 3 },
        TypeError,
        'supervise config has an unknown option "maxRestart"; known options: ' +
          "'maxRestarts', 'withinMs', 'initialMs', 'maxMs', 'factor', 'jitter', 'random', " +
          "'shouldRestart', 'scheduler'",
      );
      rejects({ ...ok, resetOnSuccess: true }, TypeError, 'unknown option "resetOnSuccess"');
    });

    it('accepts the edges: maxRestarts 0, withinMs Infinity or 2^31 − 1, initialMs 0', () => {
      expect(() => supervise({ ...ok, maxRestarts: 0 })).not.to.throw();
      expect(() => supervise({ ...ok, withinMs: Infinity })).not.to.throw();
      expect(() => supervise({ ...ok, withinMs: 2 ** 31 - 1 })).not.to.throw();
      expect(() => supervise({ ...ok, withinMs: 0.5 })).not.to.throw();
      expect(() => supervise({ ...ok, initialMs: 0, maxMs: 0 })).not.to.throw();
    });
  });

  describe('shouldRestart', () => {
    let clock: ManualClock;
    beforeEach(() => (clock = new ManualClock()));
    const config = (more: Partial<SuperviseConfig> = {}): SuperviseConfig => ({
      ...ok,
      jitter: 'none',
      scheduler: clock,
      ...more,
    });

    it('gets the error and the restart it would be, counted from the subscription', () => {
      const seen: [unknown, number][] = [];
      const { source } = failing((k) => (k <= 3 ? reset(k) : null));
      const outcome = run(
        source.pipe(
          supervise(
            config({
              shouldRestart: (error, restart) => {
                seen.push([error, restart]);
                return true;
              },
            }),
          ),
        ),
      );
      clock.advance(1_000);
      expect(outcome).to.deep.equal({ values: ['done'], error: undefined, done: true });
      expect(seen.map(([e, n]) => [(e as Error).message, n])).to.deep.equal([
        ['reset 1', 1],
        ['reset 2', 2],
        ['reset 3', 3],
      ]);
    });

    it('keeps counting after earlier restarts left the window; a new subscription starts at 1', () => {
      const seen: number[] = [];
      const supervised = (source: Observable<string>) =>
        source.pipe(
          supervise(
            config({
              maxRestarts: 1,
              withinMs: 50,
              shouldRestart: (_e, restart) => seen.push(restart) > 0,
            }),
          ),
        );
      // each subscription fails 100 ms in: the restart before it (10 ms after its error) is out
      // of the 50 ms window by then, so maxRestarts 1 never stops it
      let k = 0;
      const slow = defer(() =>
        ++k <= 3 ? timer(100, clock).pipe(mergeMap(() => throwError(() => reset(k)))) : of('done'),
      );
      const outcome = run(supervised(slow));
      clock.advance(1_000);
      expect(outcome.done).to.equal(true);
      expect(seen).to.deep.equal([1, 2, 3]);
      run(supervised(failing((n) => (n === 1 ? reset(n) : null)).source));
      clock.advance(10);
      expect(seen).to.deep.equal([1, 2, 3, 1]);
    });

    it('is asked before the intensity: also for the error that exceeds it', () => {
      const seen: number[] = [];
      const { source, count } = failing((k) => reset(k));
      const outcome = run(
        source.pipe(
          supervise(config({ maxRestarts: 1, shouldRestart: (_e, n) => seen.push(n) > 0 })),
        ),
      );
      clock.advance(1_000);
      expect(seen).to.deep.equal([1, 2]);
      expect(count()).to.equal(2);
      expect((outcome.error as Error).message).to.equal('reset 2');
    });

    it('false passes that error at once, with no timer left', () => {
      const { source, count } = failing((k) => reset(k));
      const outcome = run(source.pipe(supervise(config({ shouldRestart: () => false }))));
      expect((outcome.error as Error).message).to.equal('reset 1');
      expect(count()).to.equal(1);
      expect(clock.pending).to.equal(0);
    });

    it('an error thrown by shouldRestart goes downstream instead of the source error', () => {
      const broken = new Error('predicate broke');
      const { source } = failing((k) => reset(k));
      const outcome = run(
        source.pipe(
          supervise(
            config({
              shouldRestart: () => {
                throw broken;
              },
            }),
          ),
        ),
      );
      expect(outcome.error).to.equal(broken);
    });

    it('defaults to isTransient: ours and network errors restart, a rejection or a plain Error does not', () => {
      const errors = [
        new TimeoutError(5),
        reset(2),
        new BackendRejectedError('redis', 'WRONGTYPE', { cause: reset(0) }),
      ];
      const { source, count } = failing((k) => errors[k - 1]);
      const outcome = run(source.pipe(supervise(config())));
      clock.advance(1_000);
      expect(count()).to.equal(3);
      expect(outcome.error).to.equal(errors[2]);

      const plain = new Error('bug');
      const second = failing(() => plain);
      expect(run(second.source.pipe(supervise(config()))).error).to.equal(plain);
      expect(second.count()).to.equal(1);
    });
  });

  describe('timers', () => {
    it('unsubscribing during the backoff removes its timer from the scheduler', () => {
      const clock = new ManualClock();
      const { source, count } = failing((k) => reset(k));
      const subscription = source
        .pipe(supervise({ ...ok, jitter: 'none', scheduler: clock }))
        .subscribe({ error: () => undefined });
      expect(clock.pending).to.equal(1);
      subscription.unsubscribe();
      expect(clock.pending).to.equal(0);
      clock.advance(1_000);
      expect(count()).to.equal(1);
    });

    it('runs on real timers by default', async () => {
      const { source, count } = failing((k) => (k <= 2 ? reset(k) : null));
      const values = await lastValueFrom(
        source.pipe(supervise({ ...ok, initialMs: 1, maxMs: 5 }), toArray()),
      );
      expect(values).to.deep.equal(['done']);
      expect(count()).to.equal(3);
    });
  });
});
