/** Web Workers (module workers) for browsers, and the worker side in a dedicated worker. */
import type { ThreadPlatform, WorkerPort } from './platform.js';
import type { FromWorker, ToWorker } from './protocol.js';

export function browserPlatform(): ThreadPlatform {
  if (typeof Worker !== 'function') {
    throw new Error('threadPool needs worker_threads (Node >= 20.16) or Web Workers');
  }
  return {
    spawn(script, events) {
      const worker = new Worker(script, { type: 'module' });
      let gone = false;
      const crash = (cause: unknown) => {
        if (gone) return;
        gone = true;
        worker.terminate(); // a browser worker survives an uncaught error; the pool replaces it
        events.crash(cause);
      };
      worker.addEventListener('message', (e: MessageEvent<FromWorker>) => events.message(e.data));
      worker.addEventListener('error', (e: ErrorEvent) => {
        e.preventDefault();
        crash(e.error ?? new Error(e.message || 'worker failed to load or threw'));
      });
      worker.addEventListener('messageerror', () => crash(new Error('undecodable message')));
      return {
        post: (message, transfer) => worker.postMessage(message, transfer),
        setBusy: () => undefined,
        terminate: () => {
          gone = true;
          worker.terminate();
          return Promise.resolve();
        },
      };
    },
    defaultSize: () => Math.max(1, globalThis.navigator?.hardwareConcurrency || 4),
  };
}

interface DedicatedWorkerScope {
  addEventListener(type: 'message', listener: (e: MessageEvent<ToWorker>) => void): void;
  postMessage(message: unknown, transfer: Transferable[]): void;
}

export function browserWorkerPort(): WorkerPort {
  const scope = globalThis as unknown as Partial<DedicatedWorkerScope> & { document?: unknown };
  if (typeof scope.postMessage !== 'function' || scope.document !== undefined) {
    throw new Error('exposeWorker must be called in a worker script started by threadPool');
  }
  const worker = scope as DedicatedWorkerScope;
  // A message to our own channel queues behind messages that already arrived (cancellations).
  const channel = new MessageChannel();
  const deferred: (() => void)[] = [];
  channel.port1.onmessage = () => deferred.shift()?.();
  return {
    listen: (handler) => worker.addEventListener('message', (e) => handler(e.data)),
    post: (message, transfer) => worker.postMessage(message, transfer),
    defer: (fn) => {
      deferred.push(fn);
      channel.port2.postMessage(null);
    },
  };
}
