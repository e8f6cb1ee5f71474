/** Messages between a thread pool and its workers, and what both sides post with them. */

/** Pool → worker. */
export type ToWorker = { t: 'run'; id: number; value: unknown } | { t: 'cancel'; id: number };

/**
 * Worker → pool: 'ready' once `exposeWorker` runs (the script loaded), then per item a result,
 * an error thrown by the work function, or a cancelled item dropped.
 */
export type FromWorker =
  | { t: 'ready' }
  | { t: 'done'; id: number; value: unknown }
  | { t: 'fail'; id: number; error: SerializedError }
  | { t: 'dropped'; id: number };

/**
 * An error as it crosses threads: name, message, stack and `code` survive, and so does the class
 * of JavaScript's own errors (TypeError, RangeError, ...). Other classes arrive as `Error` with
 * their name; this library's own errors keep their `code`, so their type guards still match.
 */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: unknown;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const { code } = e as { code?: unknown };
    const code$ = typeof code === 'string' || typeof code === 'number' ? { code } : {};
    return { name: e.name, message: e.message, stack: e.stack, ...code$ };
  }
  return { name: 'Error', message: String(e) };
}

/** JavaScript's own error classes, revived as themselves so `instanceof` holds across threads. */
const BUILT_IN_ERRORS: Readonly<Record<string, ErrorConstructor>> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

export function reviveError(s: SerializedError): Error {
  const ErrorClass = Object.hasOwn(BUILT_IN_ERRORS, s.name) ? BUILT_IN_ERRORS[s.name] : Error;
  const error = new ErrorClass(s.message);
  error.name = s.name;
  if (s.stack !== undefined) error.stack = s.stack;
  if (s.code !== undefined) (error as Error & { code?: unknown }).code = s.code;
  return error;
}

/**
 * The ArrayBuffers to transfer (move, not copy) with `value`: the value itself when it is an
 * ArrayBuffer or a view (typed array, DataView), else those held directly by an array's items
 * or an object's own enumerable properties. Shared and empty buffers are left out.
 */
export function transferablesOf(value: unknown): ArrayBuffer[] {
  const found = new Set<ArrayBuffer>();
  const add = (v: unknown): boolean => {
    const buffer = ArrayBuffer.isView(v) ? v.buffer : v;
    if (!(buffer instanceof ArrayBuffer)) return false;
    if (buffer.byteLength > 0) found.add(buffer);
    return true;
  };
  if (!add(value) && typeof value === 'object' && value !== null) {
    for (const item of Array.isArray(value) ? value : Object.values(value)) add(item);
  }
  return [...found];
}
