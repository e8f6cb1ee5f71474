import { validateFunction } from '../internal/validate.js';
import { workerPort, type WorkerPort } from './platform.js';
import { serializeError, transferablesOf, type ToWorker } from './protocol.js';

let exposed = false;

/**
 * Worker side of {@link threadPool}: call it once at the top of the worker script with the work
 * function (sync or async). Items run one at a time in arrival order; at most the pool's
 * `queueDepth` wait here, and a waiting item the pool cancels is dropped without running.
 * ArrayBuffers in the result (the result itself, or an array item / own property of it) are
 * transferred back, not copied. An error thrown or rejected by `fn` errors its item (so the
 * `map` output that sent it) and leaves the worker running.
 *
 * ```
 * pool input:  --a------b------c--|
 * worker fn:     [fn(a)] [fn(b)] [fn(c)]
 * pool output: ---------A------B------C|
 * ```
 *
 * @example
 * // square.worker.js
 * import { exposeWorker } from 'rxjs-concurrency';
 * exposeWorker((n) => n * n);
 */
export function exposeWorker<T, R>(fn: (value: T) => R | PromiseLike<R>): void {
  validateFunction('fn', fn);
  if (exposed) throw new Error('exposeWorker may be called once per worker');
  const port = workerPort();
  exposed = true;
  serve(port, fn as (value: unknown) => unknown);
}

/** The worker loop: one item at a time, in arrival order, cancellable while waiting. */
function serve(port: WorkerPort, fn: (value: unknown) => unknown): void {
  const waiting = new Map<number, unknown>(); // insertion order = arrival order
  let running = false;
  let scheduled = false;

  const schedule = () => {
    if (running || scheduled || waiting.size === 0) return;
    scheduled = true;
    port.defer(runNext);
  };

  const settle = (id: number, ok: boolean, outcome: unknown) => {
    try {
      if (ok) port.post({ t: 'done', id, value: outcome }, transferablesOf(outcome));
      else port.post({ t: 'fail', id, error: serializeError(outcome) }, []);
    } catch (e) {
      port.post({ t: 'fail', id, error: serializeError(e) }, []); // e.g. DataCloneError
    }
    running = false;
    schedule(); // deferred, so cancellations that arrived meanwhile are seen first
  };

  // Not async: a synchronous result is posted at once, without a microtask hop.
  const runNext = () => {
    scheduled = false;
    const next = waiting.entries().next();
    if (next.done) return;
    const [id, value] = next.value;
    waiting.delete(id);
    running = true;
    let result: unknown;
    try {
      result = fn(value);
    } catch (e) {
      settle(id, false, e);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (v) => settle(id, true, v),
        (e: unknown) => settle(id, false, e),
      );
    } else {
      settle(id, true, result);
    }
  };

  port.listen((message: ToWorker) => {
    if (message.t === 'run') {
      waiting.set(message.id, message.value);
      schedule();
    } else if (waiting.delete(message.id)) {
      port.post({ t: 'dropped', id: message.id }, []);
    }
  });
  // The script has loaded: from now on a dying worker is a crash (transient), not a script
  // that cannot load (fatal). Posted before any answer, so it arrives first.
  port.post({ t: 'ready' }, []);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
