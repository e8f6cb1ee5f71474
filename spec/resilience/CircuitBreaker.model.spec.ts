/**
 * Model-based test: random sequences of call start / success / failure / unsubscribe / time
 * advance drive the real breaker (through the operator) and a small reference state machine
 * written as plainly as possible (windows are lists of samples). After every step the states,
 * admissions and trial counts must agree, and trials in flight never exceed halfOpenMaxCalls.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Subject, type Subscription } from 'rxjs';
import { isBrokenCircuitError } from '../../lib/errors.js';
import {
  CircuitBreaker,
  circuitBreaker,
  type CircuitBreakerConfig,
  type CircuitState,
  type IsolationHandle,
} from '../../lib/resilience/index.js';
import { ManualClock } from './manualClock.js';

interface ModelConfig {
  failureThreshold: number; // Infinity when only the window decides
  window: null | { type: 'count'; size: number } | { type: 'time'; width: number; buckets: number };
  failureRate: number;
  minimumCalls: number;
  openBase: number;
  halfOpenMaxCalls: number;
  successThreshold: number;
  halfOpenMaxMs: number;
  slowCallMs: number;
}

type Step =
  | { kind: 'start' }
  | { kind: 'succeed'; pick: number }
  | { kind: 'fail'; pick: number; ignored: boolean }
  | { kind: 'cancel'; pick: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'reset' }
  | { kind: 'isolate' }
  | { kind: 'dispose'; pick: number };

const IGNORED = new Error('ignored');

class Model {
  mode: CircuitState | 'isolated' = 'closed';
  isolations = 0;
  gen = 0;
  openings = 0;
  consecutive = 0;
  halfOpenAt = 0;
  trials = 0;
  successes = 0;
  deadline = Infinity;
  samples: { t: number; failed: boolean }[] = [];
  openedBy = { calls: 0, failures: 0 };

  constructor(
    private readonly c: ModelConfig,
    private readonly now: () => number,
  ) {}

  /** Timed transitions happen at their due time, however late they are looked at. */
  refresh(): void {
    if (this.mode === 'half-open' && this.now() >= this.deadline) this.open(this.deadline);
    if (this.mode === 'open' && this.now() >= this.halfOpenAt) {
      this.enter('half-open');
      this.trials = 0;
      this.successes = 0;
      this.deadline = Infinity;
    }
  }

  /** Generation of the admitted call, or null when refused. */
  admit(): number | null {
    this.refresh();
    if (this.mode === 'closed') return this.gen;
    if (this.mode === 'half-open' && this.trials < this.c.halfOpenMaxCalls) {
      if (this.deadline === Infinity) this.deadline = this.now() + this.c.halfOpenMaxMs;
      this.trials++;
      return this.gen;
    }
    return null;
  }

  succeed(gen: number, startedAt: number): void {
    if (gen !== this.gen) return;
    const slow = this.now() - startedAt >= this.c.slowCallMs;
    if (this.mode === 'closed') this.recordWhileClosed(slow);
    else if (this.mode === 'half-open') {
      this.trials--;
      if (slow) this.open();
      else if (++this.successes >= this.c.successThreshold) this.close();
    }
  }

  fail(gen: number, ignored: boolean): void {
    if (gen !== this.gen) return;
    if (ignored) {
      this.cancel(gen);
      return;
    }
    if (this.mode === 'closed') this.recordWhileClosed(true);
    else if (this.mode === 'half-open') {
      this.trials--;
      this.open();
    }
  }

  cancel(gen: number): void {
    if (gen === this.gen && this.mode === 'half-open') this.trials--;
  }

  private inWindow(): { t: number; failed: boolean }[] {
    const w = this.c.window;
    if (w === null) return [];
    if (w.type === 'count') return this.samples.slice(-w.size);
    const head = Math.floor(this.now() / w.width);
    return this.samples.filter((s) => Math.floor(s.t / w.width) > head - w.buckets);
  }

  /** What stats() reports: the live window, or while open the one that opened it. */
  windowCounts(): { calls: number; failures: number } {
    if (this.mode === 'open' || this.mode === 'isolated') return this.openedBy;
    const window = this.inWindow();
    return { calls: window.length, failures: window.filter((s) => s.failed).length };
  }

  /** Both rules are checked after every outcome, success or failure (as resilience4j). */
  private recordWhileClosed(failed: boolean): void {
    this.consecutive = failed ? this.consecutive + 1 : 0;
    this.samples.push({ t: this.now(), failed });
    const window = this.inWindow();
    const failures = window.filter((s) => s.failed).length;
    if (
      this.consecutive >= this.c.failureThreshold ||
      (this.c.window !== null &&
        window.length >= this.c.minimumCalls &&
        failures >= this.c.failureRate * window.length)
    ) {
      this.open();
    }
  }

  private open(at = this.now()): void {
    if (this.mode === 'closed' && this.c.window !== null) {
      const window = this.inWindow();
      this.openedBy = { calls: window.length, failures: window.filter((s) => s.failed).length };
    }
    this.openings++;
    this.halfOpenAt = at + this.c.openBase * this.openings;
    this.enter('open');
  }

  private close(): void {
    this.openings = 0;
    this.openedBy = { calls: 0, failures: 0 };
    this.enter('closed');
  }

  /** What `breaker.state` reports: an isolated circuit is open. */
  get state(): CircuitState {
    return this.mode === 'isolated' ? 'open' : this.mode;
  }

  reset(): void {
    this.consecutive = 0;
    this.samples = [];
    if (this.isolations === 0) this.close();
  }

  isolate(): void {
    if (this.isolations++ === 0) {
      if (this.mode === 'closed') this.openedBy = { calls: 0, failures: 0 };
      this.enter('isolated');
    }
  }

  dispose(): void {
    if (--this.isolations === 0) this.close();
  }

  private enter(mode: CircuitState | 'isolated'): void {
    this.gen++;
    this.mode = mode;
    this.consecutive = mode === 'half-open' ? this.consecutive : 0;
    if (mode !== 'half-open') this.samples = [];
  }
}

const configArb: fc.Arbitrary<ModelConfig> = fc
  .record({
    threshold: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    window: fc.option(
      fc.oneof(
        fc.record({ type: fc.constant('count' as const), size: fc.integer({ min: 1, max: 6 }) }),
        fc.record({
          type: fc.constant('time' as const),
          width: fc.integer({ min: 1, max: 5 }),
          buckets: fc.integer({ min: 1, max: 5 }),
        }),
      ),
      { nil: null },
    ),
    failureRate: fc.constantFrom(0.25, 0.5, 1),
    minimumCalls: fc.integer({ min: 1, max: 4 }),
    openBase: fc.integer({ min: 1, max: 10 }),
    halfOpenMaxCalls: fc.integer({ min: 1, max: 3 }),
    successThreshold: fc.integer({ min: 1, max: 3 }),
    halfOpenMaxMs: fc.constantFrom(Infinity, 3, 8),
    slowCallMs: fc.constantFrom(Infinity, 2, 5),
  })
  .map(({ threshold, window, minimumCalls, ...rest }) => ({
    ...rest,
    failureThreshold: threshold ?? (window ? Infinity : 5),
    window,
    minimumCalls: window?.type === 'count' ? Math.min(minimumCalls, window.size) : minimumCalls,
  }));

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'start' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('succeed' as const), pick: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('fail' as const),
      pick: fc.nat(),
      ignored: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'isolate' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dispose' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 1, max: 6 }),
    }),
  },
);

function toBreakerConfig(c: ModelConfig, clock: ManualClock): CircuitBreakerConfig {
  return {
    scheduler: clock,
    ...(c.failureThreshold !== Infinity && { failureThreshold: c.failureThreshold }),
    ...(c.window && {
      window:
        c.window.type === 'count'
          ? c.window
          : { type: 'time', ms: c.window.width * c.window.buckets, buckets: c.window.buckets },
      failureRate: c.failureRate,
      minimumCalls: c.minimumCalls,
    }),
    openMs: (n) => c.openBase * n,
    halfOpenMaxCalls: c.halfOpenMaxCalls,
    successThreshold: c.successThreshold,
    halfOpenMaxMs: c.halfOpenMaxMs,
    slowCallMs: c.slowCallMs,
    isFailure: (e) => e !== IGNORED,
  };
}

interface LiveCall {
  source: Subject<number>;
  subscription: Subscription;
  gen: number;
  startedAt: number;
}

describe('CircuitBreaker (model-based)', () => {
  it('agrees with the reference state machine on random call sequences', () => {
    const runs = Math.round(600 * Number(process.env.CHAOS_SCALE ?? '1'));
    fc.assert(
      fc.property(
        configArb,
        fc.array(stepArb, { minLength: 10, maxLength: 100, size: 'max' }),
        fc.boolean(),
        (config, steps, observe) => {
          const clock = new ManualClock();
          const breaker = new CircuitBreaker(toBreakerConfig(config, clock));
          const model = new Model(config, () => clock.now());
          // Observing state$ arms the breaker's timer; unobserved, transitions happen lazily.
          let announced: CircuitState = 'closed';
          const observer = observe ? breaker.state$.subscribe((s) => (announced = s)) : null;
          const live: LiveCall[] = [];
          const take = (pick: number) => live.splice(pick % live.length, 1)[0];
          const handles: IsolationHandle[] = [];

          for (const step of steps) {
            if (step.kind === 'start') {
              const gen = model.admit();
              const source = new Subject<number>();
              let refused = false;
              const subscription = source.pipe(circuitBreaker(breaker)).subscribe({
                error: (e: unknown) => {
                  refused = isBrokenCircuitError(e);
                },
              });
              expect(refused, 'refused').to.equal(gen === null);
              if (gen !== null) {
                live.push({ source, subscription, gen, startedAt: clock.now() });
              }
            } else if (step.kind === 'reset') {
              model.reset();
              breaker.reset();
            } else if (step.kind === 'isolate') {
              model.isolate();
              handles.push(breaker.isolate());
            } else if (step.kind === 'dispose') {
              if (handles.length > 0) {
                model.dispose();
                handles.splice(step.pick % handles.length, 1)[0].dispose();
              }
            } else if (step.kind === 'advance') {
              clock.advance(step.ms);
            } else if (live.length > 0) {
              const call = take(step.pick);
              if (step.kind === 'succeed') {
                model.succeed(call.gen, call.startedAt);
                call.source.complete();
              } else if (step.kind === 'fail') {
                model.fail(call.gen, step.ignored);
                call.source.error(step.ignored ? IGNORED : new Error('failed'));
              } else {
                model.cancel(call.gen);
                call.subscription.unsubscribe();
              }
            }
            model.refresh();
            expect(breaker.state, 'state').to.equal(model.state);
            if (observer) expect(announced, 'state$').to.equal(model.state);
            const stats = breaker.stats();
            const counts = model.windowCounts();
            expect([stats.windowCalls, stats.windowFailures], 'window').to.deep.equal([
              counts.calls,
              counts.failures,
            ]);
            const trials = stats.trialsInFlight;
            expect(trials, 'trials').to.equal(model.state === 'half-open' ? model.trials : 0);
            if (model.state === 'half-open') {
              const running = live.filter((c) => c.gen === model.gen && c.source.observed).length;
              expect(running, 'trial subscriptions').to.be.at.most(config.halfOpenMaxCalls);
              expect(running).to.equal(trials);
            }
          }
          observer?.unsubscribe();
          expect(clock.pending, 'timers left').to.equal(0);
        },
      ),
      { numRuns: runs },
    );
  });
});
