import { validateInteger } from '../../internal/validate.js';
import type { ConcurrencyLimit, Permit } from '../ConcurrencyLimit.js';

/** The permit handed out under a fixed numeric limit: nothing to release. */
export const FIXED_PERMIT: Permit = { release() {} };

/** A validated `concurrency` option: a fixed number, or a limit that may change at run time. */
export interface Concurrency {
  /** The fixed limit (Infinity when `limiter` decides). */
  readonly max: number;
  readonly limiter: ConcurrencyLimit | null;
}

export function isConcurrencyLimit(value: unknown): value is ConcurrencyLimit {
  if (typeof value !== 'object' || value === null) return false;
  const limit = value as Partial<ConcurrencyLimit>;
  return (
    typeof limit.limit === 'number' &&
    typeof limit.tryAcquire === 'function' &&
    typeof limit.available$ === 'object' &&
    limit.available$ !== null &&
    typeof limit.available$.subscribe === 'function'
  );
}

/** Validates `concurrency` (an integer >= 1, Infinity, or — when allowed — a ConcurrencyLimit). */
export function validateConcurrency(value: unknown, allowLimit: boolean): Concurrency {
  if (allowLimit && isConcurrencyLimit(value)) return { max: Infinity, limiter: value };
  if (allowLimit && typeof value === 'object' && value !== null) {
    throw new TypeError(
      'concurrency must be an integer >= 1, Infinity or a ConcurrencyLimit ' +
        '({ limit, inflight, tryAcquire(), available$ }), got an object without them',
    );
  }
  return { max: validateInteger('concurrency', value, 1, { allowInfinity: true }), limiter: null };
}
