// Threads & shared state: a Web Worker pool with one lane per worker, a SharedChannel
// throughput meter, and a ReactiveMap shared by widgets that mutate and watch it.
import {
  combineLatest,
  defer,
  EMPTY,
  finalize,
  interval,
  lastValueFrom,
  map,
  Observable,
  of,
  range,
  startWith,
  switchMap,
  tap,
  toArray,
} from 'rxjs';
import {
  isWorkerCrashedError,
  ReactiveMap,
  SharedChannel,
  threadPool,
  type MapChange,
} from '../../lib/index.js';
import { button, controls, eventLog, slider, stat, toggle } from '../kit/controls.js';
import { MarbleDiagram } from '../kit/marbles.js';
import type { ProduceRequest } from './channel.worker.js';
import type { SquareJob, SquareResult } from './square.worker.js';

const $ = (selector: string) => document.querySelector<HTMLElement>(selector)!;
const squareScript = new URL('/dist/threads/square.worker.js', location.href);
const channelScript = new URL('/dist/threads/channel.worker.js', location.href);

// ---------------------------------------------------------------- thread pool
const poolBar = controls($('#pool-controls'));
const size = slider(poolBar, { label: 'workers', min: 1, max: 4, value: 2 });
const workMs = slider(poolBar, {
  label: 'work per item',
  min: 50,
  max: 800,
  step: 50,
  value: 300,
  format: (v) => `${v} ms`,
});
const ordered = toggle(poolBar, { label: 'ordered', value: false });
const crash = button(poolBar, 'crash a worker', { kind: 'danger' });
const poolLog = eventLog($('#pool-log'), 50);
const poolStats = $('#pool-stats');
const doneStat = stat(poolStats, 'squared', 0);
const crashStat = stat(poolStats, 'worker crashes', 0);

const poolDiagram = new MarbleDiagram($('#pool'), {
  title: 'interval → threadPool(size).map({ordered}) — one lane per Web Worker',
});
const workerLanes = new Map<string, string>();
const laneOf = (tag: string) => {
  if (!workerLanes.has(tag)) workerLanes.set(tag, `worker ${workerLanes.size + 1} (${tag})`);
  return workerLanes.get(tag)!;
};

let squared = 0;
let crashes = 0;
const poolRun$ = (workers: number, ms: number, inOrder: boolean) =>
  defer(() => {
    const pool = threadPool<SquareJob, SquareResult>({ script: squareScript, size: workers });
    poolLog.write(`pool of ${workers} Web Worker(s), ${inOrder ? 'ordered' : 'unordered'}`);
    // Items arrive a little slower than the pool finishes them: no backlog builds up.
    const jobs$ = interval(Math.max(60, (ms / workers) * 1.15)).pipe(
      map((n): SquareJob => ({ n, ms })),
      poolDiagram.tap('input', { label: (job) => String(job.n) }),
    );
    return jobs$.pipe(
      pool.map({ ordered: inOrder }),
      poolDiagram.tap('output', {
        label: (r) => String(r.square),
        tooltip: (r) => `${r.n}² = ${r.square} by ${r.worker}`,
      }),
      finalize(() => void pool.close()),
    );
  });

combineLatest([size.value$, workMs.value$, ordered.value$])
  .pipe(switchMap(([workers, ms, inOrder]) => poolRun$(workers, ms, inOrder)))
  .subscribe((result) => {
    poolDiagram.mark(laneOf(result.worker), 'next', result.n, {
      label: String,
      tooltip: (n) => `${n}² on worker ${result.worker}`,
    });
    doneStat.set(++squared, 'ok');
  });

// A crash goes through its own one-item pool subscription, so the main stream keeps running.
const crashPool = threadPool<SquareJob, SquareResult>({ script: squareScript, size: 1 });
crash.clicks$.pipe(switchMap(() => crashOnce())).subscribe((outcome) => {
  crashStat.set(++crashes, 'warn');
  poolLog.write(outcome, 'warn');
});

function crashOnce(): Promise<string> {
  const job: SquareJob = { n: -1, ms: 0, crash: true };
  return lastValueFrom(of(job).pipe(crashPool.map())).then(
    () => 'no crash?',
    (e: unknown) =>
      isWorkerCrashedError(e) ? `WorkerCrashedError: ${e.message} — replaced` : String(e),
  );
}

// ---------------------------------------------------------------- SharedChannel meter
const channelBar = controls($('#channel-controls'));
const streaming = toggle(channelBar, { label: 'streaming', value: true });
const channelStats = $('#channel-stats');
const rateStat = stat(channelStats, 'values / s');
const totalStat = stat(channelStats, 'received', 0);
const orderStat = stat(channelStats, 'in order, none lost', '–');
const channelDiagram = new MarbleDiagram($('#channel'), {
  title: 'a worker put(0, 1, 2, …) → SharedChannel → values$() here (a marble per 250 ms)',
});

interface Tally {
  received: number;
  inOrder: boolean;
}

/** 0, 1, 2, … from a fresh producer worker through a SharedChannel; `tally` counts them. */
function channelStream(tally: Tally, count = Infinity): Observable<number> {
  return defer(() => {
    const producer = new Worker(channelScript, { type: 'module' });
    const channel = SharedChannel.create({ capacity: 4096, type: 'int32' });
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const request: ProduceRequest = { buffer: channel.buffer, stop: stop.buffer, count };
    producer.postMessage(request);
    return channel.values$().pipe(
      tap((v) => {
        if (v !== tally.received) tally.inOrder = false;
        tally.received++;
      }),
      finalize(() => {
        Atomics.store(stop, 0, 1);
        producer.terminate();
      }),
    );
  });
}

/** Every 250 ms: values per second, the total, and whether they all came in order. */
const meter$ = new Observable<Tally & { rate: number }>((subscriber) => {
  const tally: Tally = { received: 0, inOrder: true };
  let before = 0;
  let at = performance.now();
  const values = channelStream(tally).subscribe();
  const ticks = interval(250).subscribe(() => {
    const now = performance.now();
    const rate = ((tally.received - before) * 1000) / (now - at);
    [before, at] = [tally.received, now];
    subscriber.next({ ...tally, rate });
  });
  return () => {
    values.unsubscribe();
    ticks.unsubscribe();
  };
});

streaming.value$
  .pipe(switchMap((on) => (on ? meter$ : EMPTY)))
  .subscribe(({ received, inOrder, rate }) => {
    rateStat.set(formatRate(rate), 'ok');
    totalStat.set(received.toLocaleString('en'));
    orderStat.set(inOrder ? 'yes' : 'NO', inOrder ? 'ok' : 'bad');
    channelDiagram.mark('values / s', 'next', rate, {
      label: formatRate,
      tooltip: (r) => `${Math.round(r)} values/s`,
    });
  });

function formatRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(1)}M`;
  if (perSecond >= 1e3) return `${Math.round(perSecond / 1e3)}k`;
  return String(Math.round(perSecond));
}

// ---------------------------------------------------------------- ReactiveMap widgets
const stock = new ReactiveMap<string, number>([
  ['apples', 5],
  ['pears', 5],
  ['plums', 5],
]);
const fruits = ['apples', 'pears', 'plums'] as const;
const mapDiagram = new MarbleDiagram($('#map'), {
  title: 'ReactiveMap: changes$ and watch(key) — a restocker mutates inside its callback',
});
const mapLog = eventLog($('#map-log'), 60);
const mapStats = $('#map-stats');
const shelf = new Map(fruits.map((fruit) => [fruit, stat(mapStats, fruit)]));
const sameOrder = stat(mapStats, 'both auditors saw one order', '–');

// Widget 1: shelves watch their key (current value first, then each change).
for (const fruit of fruits) {
  stock
    .watch(fruit)
    .pipe(fruit === 'apples' ? mapDiagram.tap('watch(apples)') : (s) => s)
    .subscribe((n) => shelf.get(fruit)!.set(n ?? 0, (n ?? 0) === 0 ? 'bad' : 'ok'));
}

// Widget 2: the restocker refills a fruit that ran out, from inside its changes$ callback.
stock.changes$.subscribe((change) => {
  if (change.value === 0) stock.store(change.key, 5);
});

// Widgets 3 and 4: two auditors record versions; they must agree on the order.
const auditA: number[] = [];
const auditB: number[] = [];
const short = (c: MapChange<string, number>) => `${c.key.slice(0, 2)}${c.value ?? '×'}`;
stock.changes$
  .pipe(
    mapDiagram.tap('changes$', {
      label: short,
      tooltip: (c) => `v${c.version} ${c.type} ${c.key} = ${c.value}`,
    }),
  )
  .subscribe((c) => auditA.push(c.version));
stock.changes$.subscribe((c) => {
  auditB.push(c.version);
  const agree = auditA.length === auditB.length && auditA.every((v, i) => v === auditB[i]);
  sameOrder.set(agree ? 'yes' : 'NO', agree ? 'ok' : 'bad');
  mapLog.write(`v${c.version} ${c.type} ${c.key}: ${c.previous ?? '–'} → ${c.value ?? '–'}`);
});

// Widget 5: shoppers buy with compare-and-swap (retrying if someone else moved the count).
const buy = (fruit: string) => {
  for (;;) {
    const before = stock.load(fruit) ?? 0;
    if (before === 0) return;
    if (stock.compareAndSwap(fruit, before, before - 1)) return;
  }
};
const shopBar = controls($('#map-controls'));
for (const fruit of fruits)
  button(shopBar, `buy ${fruit.slice(0, -1)}`).clicks$.subscribe(() => buy(fruit));
const shopper = toggle(shopBar, { label: 'random shopper', value: true });
shopper.value$
  .pipe(switchMap((on) => (on ? interval(400).pipe(startWith(0)) : EMPTY)))
  .subscribe(() => buy(fruits[Math.floor(Math.random() * fruits.length)]));

// ---------------------------------------------------------------- hooks for the browser spec
declare global {
  interface Window {
    threadsDemo: {
      squares(count: number, size: number, ordered: boolean): Promise<number[]>;
      crash(): Promise<string>;
      channel(count: number): Promise<{ received: number; inOrder: boolean }>;
      audits(): { a: number[]; b: number[] };
    };
  }
}

window.threadsDemo = {
  async squares(count, workers, inOrder) {
    const pool = threadPool<SquareJob, SquareResult>({ script: squareScript, size: workers });
    try {
      const results = await lastValueFrom(
        range(0, count).pipe(
          map((n): SquareJob => ({ n, ms: 2 })),
          pool.map({ ordered: inOrder }),
          map((r) => r.square),
          toArray(),
        ),
      );
      return results;
    } finally {
      await pool.close();
    }
  },
  crash: () => crashOnce(),
  async channel(count) {
    const tally: Tally = { received: 0, inOrder: true };
    await lastValueFrom(channelStream(tally, count), { defaultValue: 0 });
    return tally;
  },
  audits: () => ({ a: [...auditA], b: [...auditB] }),
};
