// traced() in virtual time, against the real sdk-trace-base: which frames a span starts and ends
// at (a SpanProcessor reads the TestScheduler's clock), and the subscriptions it makes.
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { expect } from 'chai';
import { retry, type SchedulerLike } from 'rxjs';
import { LockLostError } from '../../lib/errors.js';
import { traced } from '../../lib/otel/index.js';
import { createTestScheduler } from '../../lib/testing/index.js';

/** Span name → the virtual frames it started and ended at (real SDK timestamps are wall time). */
class FrameRecorder implements SpanProcessor {
  readonly frames: Array<{ name: string; start: number; end?: number }> = [];
  readonly #open = new Map<object, { name: string; start: number; end?: number }>();
  constructor(private readonly clock: Pick<SchedulerLike, 'now'>) {}
  onStart(span: ReadableSpan): void {
    const entry = { name: span.name, start: this.clock.now() };
    this.#open.set(span.spanContext(), entry);
    this.frames.push(entry);
  }
  onEnd(span: ReadableSpan): void {
    const entry = this.#open.get(span.spanContext());
    if (entry) entry.end = this.clock.now();
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function setup() {
  const scheduler = createTestScheduler();
  const exporter = new InMemorySpanExporter();
  const frames = new FrameRecorder(scheduler);
  const provider = new BasicTracerProvider({
    spanProcessors: [frames, new SimpleSpanProcessor(exporter)],
  });
  return {
    scheduler,
    frames,
    tracer: provider.getTracer('marbles'),
    spans: () => exporter.getFinishedSpans(),
  };
}

describe('traced (marbles, real sdk-trace-base)', () => {
  it('one span from subscribe to complete, status UNSET, values untouched', () => {
    const { scheduler, frames, tracer, spans } = setup();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('--a-b--|');
      const result = source.pipe(traced('work', { tracer, attributes: { 'app.shard': 3 } }));
      expectObservable(result, '-^').toBe('---a-b--|');
      expectSubscriptions(source.subscriptions).toBe('-^------!');
    });
    expect(frames.frames).to.deep.equal([{ name: 'work', start: 1, end: 8 }]);
    const [span] = spans();
    expect(span.status).to.deep.equal({ code: SpanStatusCode.UNSET });
    expect(span.attributes).to.deep.equal({ 'app.shard': 3 });
    expect(span.events).to.deep.equal([]);
  });

  it('an error ends it with recordException, status ERROR and error.type = code, then passes on', () => {
    const { scheduler, frames, tracer, spans } = setup();
    const error = new LockLostError('orders');
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a--#', undefined, error);
      expectObservable(source.pipe(traced('work', { tracer }))).toBe('-a--#', undefined, error);
      expectSubscriptions(source.subscriptions).toBe('^---!');
    });
    expect(frames.frames).to.deep.equal([{ name: 'work', start: 0, end: 4 }]);
    const [span] = spans();
    expect(span.status).to.deep.equal({ code: SpanStatusCode.ERROR, message: error.message });
    expect(span.attributes).to.deep.equal({ 'error.type': 'ERR_RXC_LOCK_LOST' });
    expect(span.events.map((e) => [e.name, e.attributes])).to.deep.equal([
      [
        'exception',
        {
          'exception.type': 'ERR_RXC_LOCK_LOST',
          'exception.message': error.message,
          'exception.stacktrace': error.stack,
        },
      ],
    ]);
  });

  it('error.type is the class name of an error without a code', () => {
    const { scheduler, tracer, spans } = setup();
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('-#', undefined, new RangeError('out of range'));
      expectObservable(source.pipe(traced('work', { tracer }))).toBe(
        '-#',
        undefined,
        new RangeError('out of range'),
      );
    });
    expect(spans()[0].attributes).to.deep.equal({ 'error.type': 'RangeError' });
    expect(spans()[0].status.code).to.equal(SpanStatusCode.ERROR);
  });

  it('unsubscribing first ends it with status UNSET and rxc.unsubscribed, after the source teardown', () => {
    const { scheduler, frames, tracer, spans } = setup();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c-|');
      expectObservable(source.pipe(traced('work', { tracer })), '^--!').toBe('-a-');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
    expect(frames.frames).to.deep.equal([{ name: 'work', start: 0, end: 3 }]);
    expect(spans()[0].status).to.deep.equal({ code: SpanStatusCode.UNSET });
    expect(spans()[0].attributes).to.deep.equal({ 'rxc.unsubscribed': true });
  });

  it('a resubscription (retry) is a new span', () => {
    const { scheduler, frames, tracer, spans } = setup();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a#');
      expectObservable(source.pipe(traced('attempt', { tracer }), retry(1))).toBe('-a-a#');
      expectSubscriptions(source.subscriptions).toBe(['^-!', '--^-!']);
    });
    expect(frames.frames).to.deep.equal([
      { name: 'attempt', start: 0, end: 2 },
      { name: 'attempt', start: 2, end: 4 },
    ]);
    expect(spans().map((s) => s.status.code)).to.deep.equal([
      SpanStatusCode.ERROR,
      SpanStatusCode.ERROR,
    ]);
    expect(new Set(spans().map((s) => s.spanContext().spanId)).size).to.equal(2);
  });

  it('a synchronous source opens and closes its span in the same frame', () => {
    const { scheduler, frames, tracer } = setup();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('(ab|)');
      expectObservable(source.pipe(traced('sync', { tracer }))).toBe('(ab|)');
      expectSubscriptions(source.subscriptions).toBe('(^!)');
    });
    expect(frames.frames).to.deep.equal([{ name: 'sync', start: 0, end: 0 }]);
  });
});
