// Sample page: live marbles of plain RxJS pipelines (values, completion, errors, unsubscription),
// plus one lane fed by an Observable running in the demo server.
import {
  combineLatest,
  EMPTY,
  filter,
  interval,
  map,
  repeat,
  retry,
  startWith,
  switchMap,
  take,
} from 'rxjs';
import { button, controls, eventLog, slider, stat, toggle } from '../kit/controls.js';
import { MarbleDiagram } from '../kit/marbles.js';
import { callAction, serverStream } from '../kit/sse.js';

const $ = (selector: string) => document.querySelector<HTMLElement>(selector)!;

const bar = controls($('#controls'));
const period = slider(bar, {
  label: 'period',
  min: 150,
  max: 1000,
  step: 50,
  value: 400,
  format: (v) => `${v} ms`,
});
const running = toggle(bar, { label: 'running', value: true });
const restart = button(bar, 'restart', { kind: 'primary' });

const pipeline = new MarbleDiagram($('#pipeline'), {
  title: 'interval(period) → map(n × 10) → filter(multiple of 20) → take(6), repeated',
});
const interval$ = (ms: number) => interval(ms).pipe(pipeline.tap('interval'));
const demo$ = (ms: number) =>
  interval$(ms).pipe(
    map((n) => n * 10),
    pipeline.tap('map(n × 10)'),
    filter((n) => n % 20 === 0),
    pipeline.tap('filter'),
    take(6),
    pipeline.tap('take(6)'),
    repeat({ delay: 800 }),
  );

// Any change (or restart) unsubscribes the running pipeline (dashed bars) and starts afresh.
combineLatest([period.value$, running.value$, restart.clicks$.pipe(startWith(undefined))])
  .pipe(switchMap(([ms, on]) => (on ? demo$(ms) : EMPTY)))
  .subscribe();

// Errors: a stage that throws on its fourth value, and retry() resubscribing after a second.
const failures = new MarbleDiagram($('#failures'), {
  title: 'interval(500) → map(throws at 3) → retry({ delay: 1000 })',
});
failures.track(
  'after retry',
  interval(500).pipe(
    map((n) => {
      if (n === 3) throw new Error('n reached 3');
      return n;
    }),
    failures.tap('map (throws at 3)'),
    retry({ delay: 1000 }),
  ),
);

const server = new MarbleDiagram($('#server'), {
  title: 'interval(700) running in the demo server, over SSE',
});
server.track(
  'server ticks',
  serverStream<{ n: number; at: number }>('/sse/sample/ticks?periodMs=700'),
  {
    label: (tick) => String(tick.n),
    tooltip: (tick) => `#${tick.n} at ${new Date(tick.at).toISOString()}`,
  },
);

const stats = $('#stats');
stat(stats, 'crossOriginIsolated', String(crossOriginIsolated)).set(
  crossOriginIsolated ? 'yes' : 'no',
  crossOriginIsolated ? 'ok' : 'bad',
);
const roundTrip = stat(stats, 'echo round trip');
const log = eventLog($('#log'));
button($('#echo'), 'call /api/sample/echo')
  .clicks$.pipe(
    switchMap(async () => {
      const sent = performance.now();
      const reply = await callAction<{ at: number }>('/api/sample/echo', { hello: 'server' });
      return { ms: performance.now() - sent, reply };
    }),
  )
  .subscribe(({ ms, reply }) => {
    roundTrip.set(`${ms.toFixed(1)} ms`, 'ok');
    log.write(`echo → server time ${new Date(reply.at).toISOString()}`, 'ok');
  });
