// Circuit breaker page: a flaky in-page service behind circuitBreaker(), drawn as live marbles,
// with the breaker's state machine lighting up each transition as state$ announces it.
import {
  EMPTY,
  catchError,
  finalize,
  identity,
  tap,
  combineLatest,
  defer,
  interval,
  map,
  mergeMap,
  of,
  merge,
  switchMap,
  throwError,
  timer,
  type Observable,
} from 'rxjs';
import { isBrokenCircuitError } from '../../lib/errors.js';
import {
  CircuitBreaker,
  circuitBreaker,
  retryBackoff,
  type CircuitState,
} from '../../lib/resilience/index.js';
import { button, controls, eventLog, slider, stat, toggle } from '../kit/controls.js';
import { MarbleDiagram } from '../kit/marbles.js';
import { StateMachine } from './machine.js';

const $ = (selector: string) => document.querySelector<HTMLElement>(selector)!;

const bar = controls($('#controls'));
const failureRate = slider(bar, {
  label: 'failure rate',
  min: 0,
  max: 100,
  step: 5,
  value: 20,
  format: (v) => `${v} %`,
});
const period = slider(bar, {
  label: 'call every',
  min: 100,
  max: 1000,
  step: 50,
  value: 300,
  format: (v) => `${v} ms`,
});
const openMs = slider(bar, {
  label: 'openMs',
  min: 500,
  max: 5000,
  step: 250,
  value: 2000,
  format: (v) => `${(v / 1000).toFixed(2)} s`,
});
const withFallback = toggle(bar, { label: 'fallback', value: false });
const withRetry = toggle(bar, { label: 'retryBackoff', value: false });
const isolate = button(bar, 'isolate', { kind: 'danger' });
const reset = button(bar, 'reset');

const machine = new StateMachine($('#machine'));
const diagram = new MarbleDiagram($('#marbles'), {
  title: 'calls → circuitBreaker(breaker) → passed / failed / rejected / retry / fallback',
});
const log = eventLog($('#log'));
const stats = $('#stats');
const stateStat = stat(stats, 'state');
const admittedStat = stat(stats, 'admitted');
const rejectedStat = stat(stats, 'rejected');
const failedStat = stat(stats, 'failed');
const windowStat = stat(stats, 'window failures');
const retryStat = stat(stats, 'retry after');

const tones: Record<CircuitState, 'ok' | 'warn' | 'bad'> = {
  closed: 'ok',
  'half-open': 'warn',
  open: 'bad',
};
const letters: Record<CircuitState, string> = { closed: 'C', open: 'O', 'half-open': 'H' };

const colors = {
  passed: '#1c9a6c',
  failed: '#d23d3d',
  rejected: '#e0662b',
  fallback: '#5b6577',
  retry: '#a54bd1',
};

/** Draws a failed call (recorded by the breaker) or a refused one (never reached the service). */
function markEnd(err: unknown, n: number): void {
  const lane = isBrokenCircuitError(err) ? 'rejected' : 'failed';
  diagram.mark(lane, 'next', n, { color: colors[lane], tooltip: () => String(err) });
}

/** A service taking 60–180 ms that fails with the slider's probability. */
function flakyService(n: number): Observable<number> {
  return defer(() => {
    const fails = Math.random() * 100 < failureRate.value;
    const latency = 60 + Math.random() * 120;
    return timer(latency).pipe(
      mergeMap(() => (fails ? throwError(() => new Error(`503 on call ${n}`)) : of(n))),
    );
  });
}

/** One page session: a new breaker whenever openMs changes. */
function run(
  ms: number,
  fallback: boolean,
  retrying: boolean,
  callEvery: number,
): Observable<unknown> {
  const breaker = new CircuitBreaker({
    window: { type: 'count', size: 10 },
    failureRate: 0.5,
    minimumCalls: 5,
    openMs: (openings) => Math.min(ms * 2 ** (openings - 1), 8 * ms),
    halfOpenMaxCalls: 2,
    successThreshold: 2,
  });
  let previous: CircuitState | null = null;
  const states$ = breaker.state$.pipe(
    map((state) => {
      machine.show(state, previous);
      if (previous !== null) log.write(`${previous} → ${state}`, tones[state]);
      previous = state;
      stateStat.set(state, tones[state]);
      return state;
    }),
    diagram.tap('state', {
      label: (s) => letters[s],
      color: (s) => ({ closed: '#1c9a6c', open: '#d23d3d', 'half-open': '#b08a14' })[s],
      tooltip: (s) => s,
    }),
  );

  const call = (n: number) =>
    flakyService(n).pipe(
      circuitBreaker<number | string>(breaker, {
        fallback: fallback
          ? (err) => {
              markEnd(err, n);
              diagram.mark('fallback', 'next', 'fb', { color: colors.fallback });
              return of('fb');
            }
          : undefined,
      }),
      tap({
        next: (value) => {
          if (value !== 'fb') diagram.mark('passed', 'next', value, { color: colors.passed });
        },
        error: (err: unknown) => markEnd(err, n),
      }),
      // Each retry is a new call through the breaker; refusals are not retried.
      retrying
        ? retryBackoff({ maxRetries: 2, initialMs: 150, maxMs: 600, shouldRetry })
        : identity,
      catchError(() => EMPTY),
    );
  const shouldRetry = (err: unknown, attempt: number) => {
    if (isBrokenCircuitError(err)) return false;
    diagram.mark('retry', 'next', attempt, {
      color: colors.retry,
      tooltip: () => `retry ${attempt}`,
    });
    return true;
  };

  const calls$ = interval(callEvery).pipe(
    diagram.tap('calls'),
    mergeMap((n) => call(n)),
  );
  const stats$ = interval(200).pipe(
    map(() => {
      const s = breaker.stats();
      admittedStat.set(s.admitted);
      rejectedStat.set(s.rejected, s.rejected ? 'warn' : undefined);
      failedStat.set(s.failures, s.failures ? 'bad' : undefined);
      windowStat.set(`${s.windowFailures} / ${s.windowCalls}`);
      retryStat.set(s.state === 'open' ? `${(s.retryAfterMs / 1000).toFixed(1)} s` : '–');
    }),
  );
  const isolate$ = isolate.clicks$.pipe(
    mergeMap(() => {
      const handle = breaker.isolate();
      log.write('isolated for 3 s (every call refused)', 'bad');
      return timer(3000).pipe(finalize(() => handle.dispose()));
    }),
  );
  const reset$ = reset.clicks$.pipe(map(() => breaker.reset()));
  return merge(states$, calls$, stats$, isolate$, reset$);
}

// Lanes appear in the order they are first tapped: create them all up front.
for (const lane of ['calls', 'passed', 'failed', 'rejected', 'retry', 'fallback', 'state']) {
  diagram.tap(lane);
}

combineLatest([openMs.value$, withFallback.value$, withRetry.value$, period.value$])
  .pipe(switchMap(([ms, fallback, retrying, every]) => run(ms, fallback, retrying, every)))
  .subscribe();
