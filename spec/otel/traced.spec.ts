// traced(): options checked at creation, the default tracer, and the span as active context, all
// against the real sdk-trace-base.
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { expect } from 'chai';
import { defer, firstValueFrom, lastValueFrom, of, switchMap, timer, toArray } from 'rxjs';
import { traced } from '../../lib/otel/index.js';
import { StackContextManager, tracingSdk } from './support.js';

describe('traced (real sdk-trace-base)', () => {
  describe('options, checked when the operator is created', () => {
    const cases: Array<[string, () => unknown, RegExp]> = [
      ['empty name', () => traced(''), /^name must be a non-empty string, got ""$/],
      ['name not a string', () => traced(3 as never), /^name must be a non-empty string, got 3$/],
      [
        'unknown option',
        () => traced('x', { tracr: {} } as never),
        /unknown option "tracr"; known options: 'tracer', 'attributes'/,
      ],
      [
        'tracer without startSpan',
        () => traced('x', { tracer: {} as never }),
        /^tracer must be an OpenTelemetry Tracer, got an object without startSpan\(\)$/,
      ],
      [
        'tracer a string',
        () => traced('x', { tracer: 'rxc' as never }),
        /^tracer must be an OpenTelemetry Tracer, got "rxc"$/,
      ],
      [
        'nested attribute',
        () => traced('x', { attributes: { deep: { a: 1 } } as never }),
        /^attributes\.deep must be a string, number, boolean or an array of one of them, got an object$/,
      ],
      [
        'mixed array attribute',
        () => traced('x', { attributes: { ids: [1, 'a'] } as never }),
        /^attributes\.ids .* got a mixed array$/,
      ],
      [
        'attributes null',
        () => traced('x', { attributes: null as never }),
        /^attributes must be an object, got null$/,
      ],
    ];
    for (const [what, create, message] of cases) {
      it(`rejects ${what}`, () =>
        expect(create).to.throw(what === 'empty name' ? RangeError : TypeError, message));
    }

    it('copies the attributes: later changes to the caller object change nothing', async () => {
      const { tracer, spans } = tracingSdk();
      const attributes: Record<string, string> = { 'app.tenant': 'a' };
      const operator = traced<number>('copy', { tracer, attributes });
      attributes['app.tenant'] = 'b';
      await lastValueFrom(of(1).pipe(operator));
      expect(spans()[0].attributes).to.deep.equal({ 'app.tenant': 'a' });
    });
  });

  describe('with the global tracer provider', () => {
    afterEach(() => {
      trace.disable();
      context.disable();
    });

    it("defaults to trace.getTracer('rxjs-concurrency'), read at subscribe", async () => {
      const operator = traced<number>('default'); // created before the provider is registered
      const { provider, spans } = tracingSdk();
      trace.setGlobalTracerProvider(provider);
      await lastValueFrom(of(1, 2).pipe(operator));
      expect(spans().map((s) => [s.name, s.instrumentationScope.name])).to.deep.equal([
        ['default', 'rxjs-concurrency'],
      ]);
    });

    it('makes the span the active context of the subscribe: nested spans are children', async () => {
      context.setGlobalContextManager(new StackContextManager());
      const { tracer, spans } = tracingSdk();
      const inner = defer(() => {
        expect(trace.getActiveSpan()?.spanContext().spanId).to.be.a('string');
        return of('x').pipe(traced('inner', { tracer }));
      });
      await lastValueFrom(inner.pipe(traced('outer', { tracer })));
      const [first, second] = spans();
      // the inner span ends first: the outer one ends after its source's teardown
      expect([first.name, second.name]).to.deep.equal(['inner', 'outer']);
      expect(first.parentSpanContext?.spanId).to.equal(second.spanContext().spanId);
      expect(first.spanContext().traceId).to.equal(second.spanContext().traceId);
      expect(second.parentSpanContext).to.equal(undefined);
    });
  });

  it('an asynchronous source: the span covers its whole life, wall-clock timestamps', async () => {
    const { tracer, spans } = tracingSdk();
    const values = await firstValueFrom(
      timer(20).pipe(
        switchMap(() => of(1, 2, 3)),
        traced('timer', { tracer }),
        toArray(),
      ),
    );
    expect(values).to.deep.equal([1, 2, 3]);
    const [span] = spans();
    const durationMs = span.duration[0] * 1e3 + span.duration[1] / 1e6;
    expect(durationMs).to.be.at.least(15);
    expect(span.ended).to.equal(true);
    expect(span.status.code).to.equal(SpanStatusCode.UNSET);
  });

  it('a thrown non-Error value is recorded as text, error.type _OTHER', async () => {
    const { tracer, spans } = tracingSdk();
    const failing = defer(() => {
      throw { reason: 'quota', retry: 5n }; // eslint-disable-line @typescript-eslint/only-throw-error
    });
    await lastValueFrom(failing.pipe(traced('odd', { tracer }))).catch(() => undefined);
    const [span] = spans();
    expect(span.attributes['error.type']).to.equal('_OTHER');
    expect(span.status).to.deep.equal({ code: SpanStatusCode.ERROR });
    expect(span.events[0].attributes?.['exception.message']).to.equal(
      '{"reason":"quota","retry":"5"}',
    );
  });
});
