import { context, trace, type Attributes, type Tracer } from '@opentelemetry/api';
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { validateNonEmptyString, validateOptions } from '../internal/validate.js';
import { validateAttributes, validateTracer } from './options.js';
import { failSpan } from './record.js';

/** Options of {@link traced}. */
export interface TracedOptions {
  /** Default `trace.getTracer('rxjs-concurrency')`, read at each subscription. */
  tracer?: Tracer;
  /** Put on every span. */
  attributes?: Attributes;
}

/** Set on a span whose subscriber unsubscribed before the source completed or errored. */
export const UNSUBSCRIBED = 'rxc.unsubscribed';

/**
 * One span per subscription: it starts when the source is subscribed and ends when the source
 * completes, errors or is unsubscribed. Values pass through untouched.
 *
 * - complete: status UNSET (OTel leaves OK to the application; UNSET means "no error").
 * - error: `recordException`, status ERROR with the message, `error.type` = the error's `code`
 *   (`ERR_RXC_LOCK_LOST`), else its class name; then the error is passed on.
 * - unsubscribe first: status UNSET, attribute `rxc.unsubscribed: true` (cancelled, not
 *   failed: a `take(1)` or a `switchMap` ends most subscriptions that way).
 *
 * The span is the active context while the source is subscribed, so spans started synchronously
 * in that subscribe (a nested `traced`, an instrumented client) become its children. It ends
 * after the source's teardown, so the children end first.
 *
 * ```
 * source:  --a--b--|          --a--#          --a--b--
 * traced:  --a--b--|          --a--#          --a--b-!
 * span:    ^-------end        ^----end ERROR  ^------end rxc.unsubscribed
 * ```
 *
 * @example
 * orders$.pipe(traced('orders.fetch', { attributes: { 'rxc.shard': 3 } }))
 */
export function traced<T>(name: string, options?: TracedOptions): MonoTypeOperatorFunction<T> {
  validateNonEmptyString('name', name);
  const checked = validateOptions('traced options', options, ['tracer', 'attributes']);
  const tracer = checked.tracer === undefined ? undefined : validateTracer(checked.tracer);
  const attributes = validateAttributes('attributes', checked.attributes);
  return (source) =>
    new Observable<T>((subscriber) => {
      const span = (tracer ?? trace.getTracer('rxjs-concurrency')).startSpan(name, { attributes });
      let ended = false;
      const inner = context.with(trace.setSpan(context.active(), span), () =>
        source.subscribe({
          next: (value) => subscriber.next(value),
          error: (error: unknown) => {
            ended = true;
            failSpan(span, error);
            span.end();
            subscriber.error(error);
          },
          complete: () => {
            ended = true;
            span.end();
            subscriber.complete();
          },
        }),
      );
      return () => {
        inner.unsubscribe();
        if (ended) return;
        ended = true;
        span.setAttribute(UNSUBSCRIBED, true);
        span.end();
      };
    });
}
