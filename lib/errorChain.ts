/**
 * Go's `errors.As` / `errors.Is` for JavaScript error trees, and the JSON form of an error:
 * the walk follows `cause` and the `errors` of an `AggregateError` (and the `error` /
 * `suppressed` pair of a `SuppressedError`), depth-first and cycle-safe.
 */

/** A class to match by `instanceof`, or a type guard such as `isLockLostError`. */
export type ErrorMatcher<E> = (abstract new (...args: never[]) => E) | ((e: unknown) => e is E);

/** The errors inside `e`, in the order they are visited: aggregated ones, then the cause. */
function childrenOf(e: unknown): unknown[] {
  if (typeof e !== 'object' || e === null) return [];
  const { errors, error, suppressed, cause } = e as {
    errors?: unknown;
    error?: unknown;
    suppressed?: unknown;
    cause?: unknown;
  };
  const children: unknown[] = Array.isArray(errors) ? [...(errors as unknown[])] : [];
  if ((e as { name?: unknown }).name === 'SuppressedError') children.push(error, suppressed);
  if (cause !== undefined) children.push(cause);
  return children;
}

/**
 * Visits `root` and everything it wraps, depth-first (an error before what it wraps), each
 * object once, until `visit` returns true. Returns the value it stopped at.
 */
function walk(root: unknown, visit: (e: unknown) => boolean): unknown {
  const seen = new Set<object>();
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const e = stack.pop();
    if (typeof e === 'object' && e !== null) {
      if (seen.has(e)) continue;
      seen.add(e);
    }
    if (visit(e)) return e;
    const children = childrenOf(e);
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
  return undefined;
}

/** A class is matched with `instanceof`; anything else callable is a type guard. */
function isClass<E>(match: ErrorMatcher<E>): match is abstract new (...args: never[]) => E {
  const prototype = (match as { prototype?: unknown }).prototype;
  return (
    (match as unknown) === Error ||
    prototype instanceof Error ||
    /^class[\s{]/.test(Function.prototype.toString.call(match))
  );
}

/**
 * errors.As: the first error in `err`'s tree (itself, its `cause` chain, every
 * `AggregateError.errors` entry; depth-first, cycle-safe) that `match` accepts, or undefined.
 * Pass a class (`instanceof`) or a type guard (`isLockLostError` also recognises an error from a
 * second copy of this package, which `instanceof` does not).
 *
 * @example
 * const lost = findError(err, isLockLostError);
 * if (lost) log.warn({ key: lost.key }, 'lock lost');
 */
export function findError<E>(err: unknown, match: ErrorMatcher<E>): E | undefined {
  const accepts: (e: unknown) => boolean = isClass(match)
    ? (e) => e instanceof match
    : (e) => match(e);
  return walk(err, accepts) as E | undefined;
}

/**
 * errors.Is by stable code: true when `err` or anything it wraps (as {@link findError} walks)
 * has `code` equal to `code`, e.g. `hasErrorCode(err, 'ERR_RXC_LOCK_LOST')` or `'ECONNRESET'`.
 */
export function hasErrorCode(err: unknown, code: string): boolean {
  if (typeof code !== 'string' || code === '') {
    throw new TypeError(`code must be a non-empty string, got ${String(code)}`);
  }
  let found = false;
  walk(err, (e) => (found = typeof e === 'object' && e !== null && hasOwnCode(e, code)));
  return found;
}

function hasOwnCode(e: object, code: string): boolean {
  return (e as { code?: unknown }).code === code;
}

/** The JSON form of an error, as `ConcurrencyError#toJSON` returns it. */
export interface SerializedError {
  readonly name: string;
  readonly code?: string | number;
  readonly message: string;
  /** The typed context of one of our errors (`key`, `fence` as a decimal string, …). */
  readonly [context: string]: unknown;
}

/** Properties every error has or that the JSON form writes itself. */
const OWN = new Set(['name', 'code', 'message', 'stack', 'cause', 'errors']);

/** How deep a cause chain is written; a deeper one ends in a marker. */
const MAX_DEPTH = 32;

/**
 * `error` as JSON-safe data: `{ name, code?, message, ...context, errors?, cause? }`. Context
 * (own enumerable fields) is written for our errors (`withContext`) only; a plain Error gives
 * `{ name, message, code? }` and what it wraps. Bigints become decimal strings (a fence past
 * 2^53 would lose digits as a number); an error met again on the way down is `'[Circular]'`.
 */
export function serializeError(error: unknown, withContext: (e: object) => boolean): unknown {
  const path = new Set<object>();
  const write = (value: unknown, depth: number): unknown => {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value !== 'object' || value === null) return value;
    if (!isErrorLike(value)) return shallowCopy(value);
    if (path.has(value)) return '[Circular]';
    if (depth >= MAX_DEPTH) return '[Too deep]';
    path.add(value);
    try {
      return writeError(value, withContext(value), (v) => write(v, depth + 1));
    } finally {
      path.delete(value);
    }
  };
  return write(error, 0);
}

function writeError(
  e: Error,
  withContext: boolean,
  write: (value: unknown) => unknown,
): SerializedError {
  const out: Record<string, unknown> = { name: e.name, message: e.message };
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (withContext) {
    for (const [key, value] of Object.entries(e)) {
      if (!OWN.has(key) && typeof value !== 'function') out[key] = write(value);
    }
  }
  const { errors, cause } = e as { errors?: unknown; cause?: unknown };
  if (Array.isArray(errors)) out.errors = (errors as unknown[]).map(write);
  if (cause !== undefined) out.cause = write(cause);
  return out as SerializedError;
}

/** A non-error object (a cause such as `{ status: 503 }`): its primitive fields, one level. */
function shallowCopy(value: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (typeof field === 'bigint') out[key] = field.toString();
    else if (typeof field !== 'object' && typeof field !== 'function') out[key] = field;
    else if (field !== null) out[key] = Array.isArray(field) ? '[Array]' : '[Object]';
    else out[key] = null;
  }
  return out;
}

function isErrorLike(value: object): value is Error {
  return (
    value instanceof Error ||
    (typeof (value as { message?: unknown }).message === 'string' &&
      typeof (value as { name?: unknown }).name === 'string')
  );
}
