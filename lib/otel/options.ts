import type { Attributes, AttributeValue, Meter, Tracer } from '@opentelemetry/api';
import { validateObject } from '../internal/validate.js';

/** The attribute every outcome-split metric carries (`success`, `rejected`, …). */
export const OUTCOME = 'rxc.outcome';

const isPrimitive = (v: unknown): v is string | number | boolean =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** An OTel attribute value: a primitive or an array of one primitive type (nulls allowed). */
function isAttributeValue(value: unknown): value is AttributeValue {
  if (isPrimitive(value)) return true;
  if (!Array.isArray(value)) return false;
  const types = new Set(value.filter((v) => v !== null && v !== undefined).map((v) => typeof v));
  return (
    types.size <= 1 && value.every((v: unknown) => v === null || v === undefined || isPrimitive(v))
  );
}

/**
 * `attributes` checked where they are written (a nested object would be dropped by the SDK with
 * only a diag warning) and copied, so later changes to the caller's object change nothing.
 */
export function validateAttributes(name: string, value: unknown): Attributes {
  const attributes = validateObject<Record<string, unknown>>(
    name,
    value as Record<string, unknown> | undefined,
  );
  if (Array.isArray(attributes)) throw new TypeError(`${name} must be an object, got an array`);
  const copy: Attributes = {};
  for (const [key, v] of Object.entries(attributes)) {
    if (!isAttributeValue(v)) {
      throw new TypeError(
        `${name}.${key} must be a string, number, boolean or an array of one of them, got ${describe(v)}`,
      );
    }
    copy[key] = Array.isArray(v) ? ([...v] as AttributeValue) : v;
  }
  return Object.freeze(copy);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a mixed array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** A Meter: what `instrument` calls on it. */
export function validateMeter(value: unknown): Meter {
  const methods = ['createCounter', 'createHistogram', 'createObservableGauge'] as const;
  return requireMethods<Meter>('meter', value, methods, 'an OpenTelemetry Meter');
}

/** A Tracer: what `traced` and `instrument` call on it. */
export function validateTracer(value: unknown): Tracer {
  return requireMethods<Tracer>('tracer', value, ['startSpan'], 'an OpenTelemetry Tracer');
}

function requireMethods<T>(
  name: string,
  value: unknown,
  methods: readonly string[],
  what: string,
): T {
  const missing =
    typeof value === 'object' && value !== null
      ? methods.find((m) => typeof (value as Record<string, unknown>)[m] !== 'function')
      : methods[0];
  if (missing !== undefined) {
    const got =
      typeof value === 'object' && value !== null
        ? `an object without ${missing}()`
        : typeof value === 'string'
          ? JSON.stringify(value)
          : typeof value === 'function'
            ? 'a function'
            : String(value);
    throw new TypeError(`${name} must be ${what}, got ${got}`);
  }
  return value as T;
}

/**
 * `error.type` of OTel's semantic conventions: our errors' `code` (`ERR_RXC_LOCK_LOST`), else
 * the class name, else `_OTHER` (what the conventions use when nothing better is known).
 */
export function errorType(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if ((typeof code === 'string' && code !== '') || typeof code === 'number') return String(code);
    if (error instanceof Error) return error.name;
  }
  return '_OTHER';
}
