// Backpressure page: rateLimit with a live sliding window, and adaptive concurrency limits.
import {
  combineLatest,
  concatMap,
  defer,
  interval,
  map,
  Observable,
  retry,
  startWith,
  Subject,
  switchMap,
  take,
  timer,
  type Subscriber,
} from 'rxjs';
import type { ConcurrencyLimit } from '../../lib/fanout/index.js';
import {
  AdaptiveLimiter,
  GradientLimiter,
  rateLimit,
  SlidingWindowLimiter,
  type RateLimitOverflow,
} from '../../lib/backpressure/index.js';
import { button, controls, eventLog, select, slider, stat } from '../kit/controls.js';
import { MarbleDiagram } from '../kit/marbles.js';

const $ = (selector: string) => document.querySelector<HTMLElement>(selector)!;

// ---------------------------------------------------------------- rateLimit

const bar = controls($('#rate-controls'));
const policy = select(bar, {
  label: 'overflow',
  options: ['drop', 'queue', 'error'] as const,
  value: 'queue',
});
const limit = slider(bar, { label: 'limit', min: 1, max: 10, value: 4 });
const windowMs = slider(bar, {
  label: 'window',
  min: 500,
  max: 4000,
  step: 250,
  value: 2000,
  format: (v) => `${v} ms`,
});
const burst = slider(bar, { label: 'burst size', min: 1, max: 12, value: 7 });
const restart = button(bar, 'restart', { kind: 'primary' });

const diagram = new MarbleDiagram($('#rate-marbles'), {
  title: 'producer → rateLimit({ limit, windowMs, overflow }) → admitted',
  windowMs: 12_000,
});
const rateStats = $('#rate-stats');
const produced = stat(rateStats, 'produced', 0);
const admitted = stat(rateStats, 'admitted', 0);
const refused = stat(rateStats, 'dropped / queued', 0);
const waiting = stat(rateStats, 'queue length', 0);
const mostInWindow = stat(rateStats, 'most in any window', 0);
const log = eventLog($('#rate-log'), 50);

/** Times of the last `limit` admits: exactly the limiter's ring, drawn as one box per permit. */
class WindowView {
  private readonly admits: number[] = [];
  private readonly boxes: { box: HTMLElement; left: HTMLElement; text: HTMLElement }[] = [];
  private most = 0;

  constructor(
    private readonly element: HTMLElement,
    private readonly limit: number,
    private readonly windowMs: number,
  ) {
    element.replaceChildren();
    for (let i = 0; i < limit; i++) {
      const box = document.createElement('div');
      box.className = 'permit';
      const left = document.createElement('div');
      left.className = 'left';
      const text = document.createElement('span');
      box.append(left, text);
      element.appendChild(box);
      this.boxes.push({ box, left, text });
    }
    element.dataset.limit = String(limit);
  }

  admit(at: number): void {
    this.admits.push(at);
    const inWindow = this.admits.filter((t) => t > at - this.windowMs).length;
    this.most = Math.max(this.most, inWindow);
    mostInWindow.set(`${this.most} / ${this.limit}`, this.most <= this.limit ? 'ok' : 'bad');
    if (this.admits.length > this.limit) this.admits.shift();
  }

  draw(now: number): void {
    let busy = 0;
    this.boxes.forEach(({ box, left, text }, i) => {
      const at = this.admits[i];
      const leftMs = at === undefined ? 0 : Math.max(0, at + this.windowMs - now);
      box.dataset.busy = String(leftMs > 0);
      left.style.width = `${(100 * leftMs) / this.windowMs}%`;
      text.textContent = leftMs > 0 ? `${(leftMs / 1000).toFixed(1)}s` : 'free';
      if (leftMs > 0) busy++;
    });
    this.element.dataset.busy = String(busy);
  }
}

let view: WindowView | undefined;
const frame = () => {
  view?.draw(Date.now());
  requestAnimationFrame(frame);
};
requestAnimationFrame(frame);

const totals = { produced: 0, admitted: 0, refused: 0, waiting: 0 };
const show = () => {
  produced.set(totals.produced);
  admitted.set(totals.admitted);
  refused.set(totals.refused);
  waiting.set(totals.waiting, totals.waiting > 0 ? 'warn' : undefined);
};

/**
 * The values that `gate` did not pass on synchronously were refused: dropped under 'drop',
 * queued under 'queue' (emitted later, in order). Drawn in their own lanes.
 */
function watchRefusals(
  overflow: RateLimitOverflow,
  gate: (source: Observable<number>) => Observable<number>,
) {
  return (source: Observable<number>) =>
    new Observable<number>((subscriber: Subscriber<number>) => {
      const input = new Subject<number>();
      let passed = false;
      const output = gate(input).subscribe({
        next: (value) => {
          passed = true;
          if (totals.waiting > 0 && overflow === 'queue') totals.waiting--;
          subscriber.next(value);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      const upstream = source.subscribe({
        next: (value) => {
          passed = false;
          input.next(value);
          if (passed || subscriber.closed) return;
          totals.refused++;
          if (overflow === 'queue') totals.waiting++;
          diagram.mark(overflow === 'queue' ? 'queued' : 'dropped', 'next', value);
          show();
        },
        error: (err: unknown) => input.error(err),
        complete: () => input.complete(),
      });
      return () => {
        upstream.unsubscribe();
        output.unsubscribe();
      };
    });
}

function rateDemo(overflow: RateLimitOverflow, permits: number, ms: number, size: number) {
  return defer(() => {
    view = new WindowView($('#window'), permits, ms);
    totals.waiting = 0;
    let n = 0;
    const limiter = new SlidingWindowLimiter({ limit: permits, windowMs: ms });
    const producer$ = timer(0, 4000).pipe(
      concatMap(() => interval(90).pipe(take(size))),
      map(() => n++),
      diagram.tap('producer'),
    );
    const gate = rateLimit<number>(
      overflow === 'queue' ? { limiter, overflow, maxQueue: 20 } : { limiter, overflow },
    );
    return producer$.pipe(
      map((value) => {
        totals.produced++;
        return value;
      }),
      watchRefusals(overflow, gate),
      diagram.tap('admitted'),
      map((value) => {
        totals.admitted++;
        view?.admit(Date.now()); // the limiter's clock (asyncScheduler.now)
        show();
        return value;
      }),
      retry({
        delay: (err: Error) => {
          log.write(`${err.name}: ${err.message}; resubscribing in 2 s`, 'bad');
          return timer(2000);
        },
      }),
    );
  });
}

combineLatest([
  policy.value$,
  limit.value$,
  windowMs.value$,
  burst.value$,
  restart.clicks$.pipe(startWith(undefined)),
])
  .pipe(
    switchMap(([overflow, permits, ms, size]) => {
      log.write(`rateLimit({ limit: ${permits}, windowMs: ${ms}, overflow: '${overflow}' })`);
      return rateDemo(overflow, permits, ms, size);
    }),
  )
  .subscribe();

// ---------------------------------------------------------------- AdaptiveLimiter

const adaptiveBar = controls($('#adaptive-controls'));
const kind = select(adaptiveBar, {
  label: 'limiter',
  options: ['AIMD', 'gradient'] as const,
  value: 'AIMD',
});
const errorRate = slider(adaptiveBar, {
  label: 'error rate',
  min: 0,
  max: 60,
  value: 0,
  format: (v) => `${v} %`,
});
const capacity = slider(adaptiveBar, { label: 'service capacity', min: 2, max: 40, value: 24 });

const adaptiveStats = $('#adaptive-stats');
const limitStat = stat(adaptiveStats, 'limit');
const inflightStat = stat(adaptiveStats, 'in flight', 0);
const okStat = stat(adaptiveStats, 'successes / s', 0);
const droppedStat = stat(adaptiveStats, 'dropped / s', 0);
const latencyStat = stat(adaptiveStats, 'mean latency', '–');
limitStat.element.dataset.testid = 'limit';

const adaptiveMarbles = new MarbleDiagram($('#adaptive-marbles'), {
  title: 'limiter.limit$',
  windowMs: 30_000,
});

const timeoutMs = 800;
const makeLimiter = (name: 'AIMD' | 'gradient') =>
  name === 'AIMD'
    ? new AdaptiveLimiter({ initial: 4, min: 1, max: 100 })
    : new GradientLimiter({ initial: 4, min: 1, max: 100 });
let limiter: (ConcurrencyLimit & { limit$: Observable<number> }) | undefined;

// The service works on `capacity` calls at a time (150-350 ms each) and shares itself among
// more, so latency grows with load; calls that would take over 800 ms time out ('dropped'),
// and a share of all calls fail at random.
let atService = 0;
const outcomes = { success: 0, dropped: 0, latency: 0 };
function call(on: ConcurrencyLimit): boolean {
  const permit = on.tryAcquire();
  if (permit === null) return false;
  atService++;
  const latency = (150 + Math.random() * 200) * Math.max(1, atService / capacity.value);
  const failed = latency > timeoutMs || Math.random() * 100 < errorRate.value;
  setTimeout(
    () => {
      atService--;
      outcomes[failed ? 'dropped' : 'success']++;
      if (!failed) outcomes.latency += latency;
      permit.release(failed ? 'dropped' : 'success');
    },
    Math.min(latency, timeoutMs),
  );
  return true;
}

// Unbounded demand: take every permit the limiter gives, whenever it may give one.
kind.value$
  .pipe(
    switchMap((name) => {
      const current = (limiter = makeLimiter(name));
      const pump = () => {
        while (call(current));
      };
      return new Observable<number>((subscriber) => {
        const available = current.available$.subscribe(pump);
        pump();
        subscriber.add(available);
        subscriber.add(current.limit$.subscribe(subscriber));
      }).pipe(adaptiveMarbles.tap('limit$'));
    }),
  )
  .subscribe();

const samples: { limit: number; inflight: number; capacity: number }[] = [];
const maxSamples = 300; // 30 s at 100 ms
const yMax = 100;
const points = (pick: (s: (typeof samples)[number]) => number) =>
  samples
    .map((s, i) => `${(i * 600) / (maxSamples - 1)},${220 - (pick(s) * 210) / yMax}`)
    .join(' ');
interval(100).subscribe(() => {
  if (limiter === undefined) return;
  samples.push({ limit: limiter.limit, inflight: limiter.inflight, capacity: capacity.value });
  if (samples.length > maxSamples) samples.shift();
  $('#limit-line').setAttribute(
    'points',
    points((s) => s.limit),
  );
  $('#inflight-line').setAttribute(
    'points',
    points((s) => s.inflight),
  );
  $('#capacity-line').setAttribute(
    'points',
    points((s) => s.capacity),
  );
  limitStat.set(limiter.limit);
  inflightStat.set(limiter.inflight);
});
interval(1000).subscribe(() => {
  okStat.set(outcomes.success, 'ok');
  droppedStat.set(outcomes.dropped, outcomes.dropped > 0 ? 'warn' : 'ok');
  latencyStat.set(
    outcomes.success ? `${Math.round(outcomes.latency / outcomes.success)} ms` : '–',
    outcomes.latency / outcomes.success > timeoutMs / 2 ? 'warn' : 'ok',
  );
  outcomes.success = outcomes.dropped = outcomes.latency = 0;
});
