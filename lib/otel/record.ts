import {
  SpanStatusCode,
  type Attributes,
  type Exception,
  type Meter,
  type ObservableCallback,
  type ObservableResult,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { Observable, Subscription } from 'rxjs';
import { errorType, OUTCOME } from './options.js';

/** What every per-kind `instrument` function records with, validated by `instrument`. */
export interface Recording {
  readonly meter: Meter;
  readonly tracer: Tracer | undefined;
  /** `options.attributes`, frozen: put on every data point and span. */
  readonly attributes: Attributes;
  /** Ends everything: event subscriptions, gauge callbacks, open spans. */
  readonly subscription: Subscription;
}

/**
 * Histogram buckets in seconds. The SDK's default boundaries (0, 5, 10, … 10 000) suit
 * milliseconds; in seconds they would put every call below 5 s into one or two buckets.
 */
export const SECONDS_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];

export const seconds = (ms: number): number => ms / 1000;

/**
 * One frozen attribute set per outcome, built once: the event handlers run per call of the
 * instrumented primitive and allocate nothing.
 */
export function outcomeAttributes<O extends string>(
  attributes: Attributes,
  outcomes: readonly O[],
): Readonly<Record<O, Attributes>> {
  const sets = {} as Record<O, Attributes>;
  for (const outcome of outcomes)
    sets[outcome] = Object.freeze({ ...attributes, [OUTCOME]: outcome });
  return Object.freeze(sets);
}

/** Subscribes `handle` to `events$` until the recording ends. */
export function onEvents<E>(
  recording: Recording,
  events$: Observable<E>,
  handle: (event: E) => void,
): void {
  recording.subscription.add(events$.subscribe({ next: handle }));
}

/**
 * An observable gauge whose callback lives as long as the recording: removed on unsubscribe, so
 * a stopped recording reports nothing at the next collection.
 */
export function observeGauge(
  recording: Recording,
  name: string,
  options: { description: string; unit?: string },
  observe: (result: ObservableResult) => void,
): void {
  const gauge = recording.meter.createObservableGauge(name, options);
  const callback: ObservableCallback = (result) => observe(result);
  gauge.addCallback(callback);
  recording.subscription.add(() => gauge.removeCallback(callback));
}

/**
 * Ends `span` as failed: OTel's error recipe (`recordException`, status ERROR with the message,
 * `error.type` from the error's `code`, else its class name).
 */
export function endWithError(span: Span, error: unknown): void {
  failSpan(span, error);
  span.end();
}

/** Marks `span` failed by `error` without ending it. */
export function failSpan(span: Span, error: unknown): void {
  if (error !== undefined) span.recordException(asException(error));
  const message = error instanceof Error ? error.message : undefined;
  span.setStatus(
    message === undefined
      ? { code: SpanStatusCode.ERROR }
      : { code: SpanStatusCode.ERROR, message },
  );
  span.setAttribute('error.type', errorType(error));
}

/** What `recordException` takes: an Error as is, anything else as readable text. */
function asException(error: unknown): Exception {
  if (error instanceof Error) return error;
  if (typeof error === 'object' && error !== null) {
    try {
      return JSON.stringify(error, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}` : v));
    } catch {
      return Object.prototype.toString.call(error);
    }
  }
  return typeof error === 'symbol' ? error.toString() : `${error as string | number | boolean}`;
}

/**
 * Spans keyed by what identifies one hold or term, so an `instrument` subscription ended while
 * some are open can end them (a span never ended is never exported).
 */
export class OpenSpans {
  readonly #spans = new Map<string, Span>();

  constructor(recording: Recording) {
    recording.subscription.add(() => {
      for (const span of this.#spans.values()) {
        span.setAttribute('rxc.instrument.stopped', true);
        span.end();
      }
      this.#spans.clear();
    });
  }

  open(id: string, span: Span): void {
    // A second grant under one id cannot happen with a strictly increasing fence or term; if a
    // backend ever repeats one, the older span is ended rather than leaked.
    this.#spans.get(id)?.end();
    this.#spans.set(id, span);
  }

  get(id: string): Span | undefined {
    return this.#spans.get(id);
  }

  /** Removes and returns the span of `id`, if one is open. */
  take(id: string): Span | undefined {
    const span = this.#spans.get(id);
    this.#spans.delete(id);
    return span;
  }
}
