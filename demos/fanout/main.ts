// Fan-out / fan-in page: squares of 1..N over N workers (the Go article's example), then the
// throttled variant (100 jobs over 5 workers with a bounded queue), drawn live: the source, one
// lane per worker, and the merged output.
import {
  catchError,
  combineLatest,
  debounceTime,
  defer,
  EMPTY,
  finalize,
  interval,
  map,
  repeat,
  startWith,
  switchMap,
  take,
  tap,
  timer,
  type Observable,
} from 'rxjs';
import { isBufferOverflowError } from '../../lib/errors.js';
import { fanOut, type FanOutConfig, type FanOutOverflow } from '../../lib/fanout/index.js';
import { button, controls, eventLog, select, slider, stat, toggle } from '../kit/controls.js';
import { MarbleDiagram } from '../kit/marbles.js';

const $ = (selector: string) => document.querySelector<HTMLElement>(selector)!;

type Scenario = 'squares of 1..N' | 'throttled: 100 jobs';
interface Setup {
  scenario: Scenario;
  count: number;
  concurrency: number;
  ordered: boolean;
  maxBuffered: number;
  overflow: FanOutOverflow;
}

const bar = controls($('#controls'));
const scenario = select<Scenario>(bar, {
  label: 'scenario',
  options: ['squares of 1..N', 'throttled: 100 jobs'],
  value: 'squares of 1..N',
});
const count = slider(bar, { label: 'N', min: 5, max: 30, value: 12 });
const concurrency = slider(bar, { label: 'workers (concurrency)', min: 1, max: 8, value: 3 });
const ordered = toggle(bar, { label: 'ordered', value: false });
const queueBound = slider(bar, {
  label: 'maxBuffered',
  min: 0,
  max: 21,
  value: 21,
  format: (v) => (v > 20 ? '∞' : String(v)),
});
const overflow = select<FanOutOverflow>(bar, {
  label: 'overflow',
  options: ['error', 'drop-newest', 'drop-oldest'],
  value: 'drop-oldest',
});
const restart = button(bar, 'restart', { kind: 'primary' });

const stats = $('#stats');
const emittedStat = stat(stats, 'emitted', 0);
const inFlightStat = stat(stats, 'in flight', 0);
const peakStat = stat(stats, 'peak in flight', 0);
const doneStat = stat(stats, 'done', 0);
const droppedStat = stat(stats, 'dropped', '–');
const log = eventLog($('#log'));

// The scenario sets its own defaults: 3 workers for the squares, 5 for the throttled run.
scenario.value$.subscribe((s) => {
  concurrency.value = s === 'squares of 1..N' ? 3 : 5;
  queueBound.value = s === 'squares of 1..N' ? 21 : 8;
});

let diagram: MarbleDiagram | undefined;

function run(setup: Setup): Observable<number> {
  const workers = setup.concurrency;
  const throttled = setup.scenario === 'throttled: 100 jobs';
  const jobs = throttled ? 100 : setup.count;
  diagram?.dispose();
  diagram = new MarbleDiagram($('#marbles'), {
    title: `${jobs} jobs → fanOut(square, ${describe(setup)}) → merged output`,
    laneHeight: 36,
  });
  const lanes = diagram;
  const workerLanes = Array.from({ length: workers }, (_, i) => `worker ${i + 1}`);
  lanes.tap('source');
  for (const lane of workerLanes) lanes.tap(lane);
  $('#code').textContent = code(setup, jobs);

  return defer(() => oneRun(setup, lanes, workerLanes, jobs));
}

/** One pass over the jobs, with its own counters. */
function oneRun(
  setup: Setup,
  lanes: MarbleDiagram,
  workerLanes: string[],
  jobs: number,
): Observable<number> {
  const workers = setup.concurrency;
  const throttled = setup.scenario === 'throttled: 100 jobs';
  // A worker is the lowest free lane while a job runs: fanOut never runs more than `workers`.
  const busy = new Array<boolean>(workers).fill(false);
  let emitted = 0;
  let started = 0;
  let done = 0;
  let inFlight = 0;
  let peak = 0;
  const show = () => {
    emittedStat.set(emitted);
    inFlightStat.set(inFlight, inFlight > workers ? 'bad' : undefined);
    peakStat.set(peak, peak > workers ? 'bad' : 'ok');
    doneStat.set(done);
  };
  droppedStat.set('–');

  const square = (n: number) =>
    defer(() => {
      const slot = busy.indexOf(false);
      busy[slot] = true;
      started++;
      peak = Math.max(peak, ++inFlight);
      show();
      const latency = throttled ? 150 + Math.random() * 450 : 250 + Math.random() * 1250;
      return timer(latency).pipe(
        map(() => n * n),
        tap(() => lanes.mark(workerLanes[slot], 'next', n)),
        finalize(() => {
          busy[slot] = false;
          inFlight--;
          show();
        }),
      );
    });

  const config: FanOutConfig = {
    concurrency: workers,
    ordered: setup.ordered,
    maxBuffered: setup.maxBuffered,
    overflow: setup.overflow,
  };
  log.write(`start: ${jobs} jobs, ${describe(setup)}`);
  return interval(throttled ? 60 : 150)
    .pipe(
      take(jobs),
      map((i) => i + 1),
      tap(() => {
        emitted++;
        show();
      }),
      lanes.tap<number>('source'),
      fanOut(square, config),
      lanes.tap<number>('fanOut output'),
    )
    .pipe(
      tap(() => {
        done++;
        show();
      }),
      finalize(() => {
        const dropped = emitted - started;
        droppedStat.set(dropped, dropped > 0 ? 'warn' : 'ok');
      }),
      catchError((error: unknown) => {
        log.write(
          isBufferOverflowError(error)
            ? `BufferOverflowError: more than ${error.capacity} jobs waiting`
            : String(error),
          'bad',
        );
        return EMPTY;
      }),
      tap({
        complete: () =>
          log.write(
            `finished: ${done} results, peak ${peak} in flight (limit ${workers})`,
            peak <= workers ? 'ok' : 'bad',
          ),
      }),
    );
}

function describe(setup: Setup): string {
  const parts = [`concurrency: ${setup.concurrency}`];
  if (setup.ordered) parts.push('ordered: true');
  if (Number.isFinite(setup.maxBuffered)) {
    parts.push(`maxBuffered: ${setup.maxBuffered}`, `overflow: '${setup.overflow}'`);
  }
  return `{ ${parts.join(', ')} }`;
}

function code(setup: Setup, jobs: number): string {
  const pace = setup.scenario === 'throttled: 100 jobs' ? 60 : 150;
  return [
    `jobs$ // 1..${jobs}, one every ${pace} ms`,
    `  .pipe(fanOut(square, ${describe(setup)}))`,
    `  .subscribe(render);`,
  ].join('\n');
}

const setup$ = combineLatest({
  scenario: scenario.value$,
  count: count.value$,
  concurrency: concurrency.value$,
  ordered: ordered.value$,
  bound: queueBound.value$,
  overflow: overflow.value$,
});

// Any change (or restart) unsubscribes the running fan-out (its inners end as dashed bars) and
// starts afresh; a finished run starts again after a pause.
combineLatest([setup$, restart.clicks$.pipe(startWith(undefined))])
  .pipe(
    debounceTime(30),
    switchMap(([{ bound, ...setup }]) =>
      run({ ...setup, maxBuffered: bound > 20 ? Infinity : bound }).pipe(repeat({ delay: 2500 })),
    ),
  )
  .subscribe();
