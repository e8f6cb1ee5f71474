/**
 * worker_threads, reached at run time through `process.getBuiltinModule` (Node >= 20.16) so that
 * bundles for browsers never see a `node:` import. The interfaces below are the small part of
 * Node's API used here, typed locally to keep @types/node out of the public types.
 */
import type { ThreadPlatform, WorkerEvents, WorkerHandle, WorkerPort } from './platform.js';
import type { FromWorker, ToWorker } from './protocol.js';

interface NodeWorker {
  postMessage(value: unknown, transferList?: readonly ArrayBuffer[]): void;
  on(event: 'message', listener: (value: unknown) => void): void;
  on(event: 'error' | 'messageerror', listener: (error: Error) => void): void;
  on(event: 'exit', listener: (code: number) => void): void;
  ref(): void;
  unref(): void;
  terminate(): Promise<number>;
}

interface NodeParentPort {
  on(event: 'message', listener: (value: unknown) => void): void;
  postMessage(value: unknown, transferList?: readonly ArrayBuffer[]): void;
}

interface WorkerThreads {
  Worker: new (script: string | URL) => NodeWorker;
  parentPort: NodeParentPort | null;
}

/** Node's global `setImmediate` (not in the DOM typings the browser build compiles with). */
const setImmediate = (fn: () => void): void =>
  void (globalThis as unknown as { setImmediate(fn: () => void): unknown }).setImmediate(fn);

interface NodeProcess {
  versions?: { node?: string };
  getBuiltinModule?: (id: string) => unknown;
}

function builtin<T>(id: string): T | undefined {
  const process = (globalThis as { process?: NodeProcess }).process;
  if (!process?.versions?.node || typeof process.getBuiltinModule !== 'function') return undefined;
  return process.getBuiltinModule(id) as T;
}

interface NodeFs {
  statSync(path: string, options: { throwIfNoEntry: false }): { isFile(): boolean } | undefined;
}

interface NodeUrl {
  fileURLToPath(url: URL): string;
}

interface NodePath {
  resolve(path: string): string;
  isAbsolute(path: string): boolean;
}

/**
 * A script Node would fail to start, rejected when the pool is made instead of at the first
 * item: a path or file: URL that is not a file. Node also refuses a relative path that does not
 * start with ./ or ../ (it would not know what it is relative to). data: URLs are not checked.
 */
function checkScript(script: string | URL): void {
  const target = toNodeScript(script);
  let file: string;
  if (target instanceof URL) {
    if (target.protocol !== 'file:') return;
    file = builtin<NodeUrl>('url')!.fileURLToPath(target);
  } else {
    const path = builtin<NodePath>('path')!;
    if (!path.isAbsolute(target) && !/^\.\.?[\\/]/.test(target)) {
      throw new TypeError(
        `script must be an absolute path, a path starting with ./ or ../, or a URL, got ${JSON.stringify(target)}`,
      );
    }
    file = path.resolve(target);
  }
  const stat = builtin<NodeFs>('fs')!.statSync(file, { throwIfNoEntry: false });
  if (!stat?.isFile()) {
    const why = stat ? 'is not a file' : 'does not exist';
    throw new TypeError(`script ${JSON.stringify(String(script))} ${why} (${file})`);
  }
}

/** `'file:…'` and `'data:…'` strings are URLs; other strings are paths, as Node expects. */
const toNodeScript = (script: string | URL): string | URL =>
  typeof script === 'string' && /^(file|data):/.test(script) ? new URL(script) : script;

function spawn(threads: WorkerThreads, script: string | URL, events: WorkerEvents): WorkerHandle {
  const worker = new threads.Worker(toNodeScript(script));
  worker.unref();
  let terminating = false;
  let failure: unknown;
  worker.on('message', (message) => events.message(message as FromWorker));
  worker.on('error', (error) => (failure = error)); // 'exit' follows
  worker.on('messageerror', (error) => {
    failure = error;
    void worker.terminate();
  });
  worker.on('exit', (code) => {
    if (!terminating) events.crash(failure ?? new Error(`worker exited with code ${code}`));
  });
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    setBusy: (busy) => (busy ? worker.ref() : worker.unref()),
    terminate: async () => {
      terminating = true;
      await worker.terminate();
    },
  };
}

export function nodePlatform(): ThreadPlatform | undefined {
  const threads = builtin<WorkerThreads>('worker_threads');
  const os = builtin<{ availableParallelism(): number }>('os');
  if (!threads || !os) return undefined;
  return {
    spawn: (script, events) => spawn(threads, script, events),
    defaultSize: () => Math.max(1, os.availableParallelism()),
    checkScript,
  };
}

export function nodeWorkerPort(): WorkerPort | undefined {
  const port = builtin<WorkerThreads>('worker_threads')?.parentPort;
  if (!port) return undefined;
  return {
    listen: (handler) => port.on('message', (message) => handler(message as ToWorker)),
    post: (message, transfer) => port.postMessage(message, transfer),
    // setImmediate runs after the poll phase, which delivers messages already queued.
    defer: (fn) => setImmediate(fn),
  };
}
