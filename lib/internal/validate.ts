/**
 * Option validation shared by every operator and class. Called when the operator or class is
 * CREATED, so a bad value fails where it was written. Messages name the option and the value:
 * `concurrency must be an integer >= 1, got 0`.
 */

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function requireNumber(name: string, value: unknown, expected: string): asserts value is number {
  if (typeof value !== 'number')
    throw new TypeError(`${name} must be ${expected}, got ${show(value)}`);
}

/** An integer >= `min` (Infinity allowed only with `allowInfinity`). */
export function validateInteger(
  name: string,
  value: unknown,
  min: number,
  { allowInfinity = false, max = Number.POSITIVE_INFINITY } = {},
): number {
  const expected = `an integer >= ${min}${max < Number.POSITIVE_INFINITY ? ` and <= ${max}` : ''}${allowInfinity ? ' or Infinity' : ''}`;
  requireNumber(name, value, expected);
  if (allowInfinity && value === Number.POSITIVE_INFINITY) return value;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be ${expected}, got ${show(value)}`);
  }
  return value;
}

/**
 * A finite number in [min, max] (bounds inclusive unless `exclusiveMin`); with `allowInfinity`
 * also Infinity (e.g. a window that never forgets).
 */
export function validateNumber(
  name: string,
  value: unknown,
  {
    min = Number.NEGATIVE_INFINITY,
    max = Number.POSITIVE_INFINITY,
    exclusiveMin = false,
    allowInfinity = false,
  } = {},
): number {
  const parts: string[] = [];
  if (min > Number.NEGATIVE_INFINITY) parts.push(`${exclusiveMin ? '>' : '>='} ${min}`);
  if (max < Number.POSITIVE_INFINITY) parts.push(`<= ${max}`);
  const expected = `a finite number${parts.length ? ' ' + parts.join(' and ') : ''}${allowInfinity ? ' or Infinity' : ''}`;
  requireNumber(name, value, expected);
  if (allowInfinity && value === Number.POSITIVE_INFINITY) return value;
  if (!Number.isFinite(value) || value < min || value > max || (exclusiveMin && value === min)) {
    throw new RangeError(`${name} must be ${expected}, got ${show(value)}`);
  }
  return value;
}

/** One of a fixed set of strings. */
export function validateOneOf<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    const list = allowed.map((a) => `'${a}'`).join(', ');
    const error = typeof value === 'string' ? RangeError : TypeError;
    throw new error(`${name} must be one of ${list}, got ${show(value)}`);
  }
  return value as T;
}

/** A function. */
export function validateFunction<F extends (...args: never[]) => unknown>(
  name: string,
  value: unknown,
): F {
  if (typeof value !== 'function')
    throw new TypeError(`${name} must be a function, got ${show(value)}`);
  return value as F;
}

/** A non-empty string. */
export function validateNonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string')
    throw new TypeError(`${name} must be a non-empty string, got ${show(value)}`);
  if (value.length === 0) throw new RangeError(`${name} must be a non-empty string, got ""`);
  return value;
}

/** A boolean. */
export function validateBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new TypeError(`${name} must be a boolean, got ${show(value)}`);
  return value;
}

/** A plain options object (or undefined, which becomes `{}`). */
export function validateObject<T extends object>(name: string, value: T | undefined): T {
  if (value === undefined) return {} as T;
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`${name} must be an object, got ${show(value)}`);
  }
  return value;
}

/** The longest delay a JavaScript timer can wait (2^31 − 1 ms); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A duration in whole ms in [`min`, {@link MAX_TIMER_MS}]: anything longer would overflow
 * `setTimeout` and fire at once. `max` lowers the bound (e.g. a TTL renewed at a third of it).
 */
export function validateMs(
  name: string,
  value: unknown,
  min: number,
  { allowInfinity = false, max = MAX_TIMER_MS } = {},
): number {
  return validateInteger(name, value, min, { allowInfinity, max: Math.min(max, MAX_TIMER_MS) });
}

/**
 * An options object (or undefined → `{}`) with no keys but `allowed`: a misspelt option
 * (`ordred`) fails at creation, naming the key, instead of being silently ignored.
 */
export function validateOptions<T extends object>(
  name: string,
  value: T | undefined,
  allowed: readonly (keyof T & string)[],
): T {
  const options = validateObject(name, value);
  for (const key of Object.keys(options)) {
    if (!(allowed as readonly string[]).includes(key)) {
      const list = allowed.map((a) => `'${a}'`).join(', ');
      throw new TypeError(`${name} has an unknown option ${show(key)}; known options: ${list}`);
    }
  }
  return options;
}
