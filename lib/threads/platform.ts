import { browserPlatform, browserWorkerPort } from './platform.browser.js';
import { nodePlatform, nodeWorkerPort } from './platform.node.js';
import type { FromWorker, ToWorker } from './protocol.js';

/** What the pool hears from one worker. */
export interface WorkerEvents {
  message(message: FromWorker): void;
  /** The worker is gone or unusable (exit, uncaught error, undecodable message). */
  crash(cause: unknown): void;
}

/** One worker thread, as the pool drives it. */
export interface WorkerHandle {
  post(message: ToWorker, transfer: ArrayBuffer[]): void;
  /** Busy workers keep a Node process alive; idle ones do not. */
  setBusy(busy: boolean): void;
  terminate(): Promise<void>;
}

/** How threads are made here: worker_threads in Node, Web Workers in browsers. */
export interface ThreadPlatform {
  spawn(script: string | URL, events: WorkerEvents): WorkerHandle;
  defaultSize(): number;
  /**
   * Throws (naming the script) when it can tell at once that the script cannot start, e.g. a
   * file that does not exist; absent where nothing can be checked synchronously (browsers).
   */
  checkScript?(script: string | URL): void;
}

/** The worker side of the channel to the pool. */
export interface WorkerPort {
  listen(handler: (message: ToWorker) => void): void;
  post(message: FromWorker, transfer: ArrayBuffer[]): void;
  /** Runs `fn` after messages that already arrived (cancellations) have been handled. */
  defer(fn: () => void): void;
}

/**
 * Node's worker_threads when running in Node (reached through `process.getBuiltinModule`, so
 * no `node:` import is reachable from the browser-safe core), else Web Workers.
 */
export function threadPlatform(): ThreadPlatform {
  return nodePlatform() ?? browserPlatform();
}

/** This worker's port to its pool. */
export function workerPort(): WorkerPort {
  return nodeWorkerPort() ?? browserWorkerPort();
}
