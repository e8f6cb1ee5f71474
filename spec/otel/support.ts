/**
 * The real OpenTelemetry SDKs for the otel specs (never a fake): a MeterProvider with a reader
 * the spec collects from, and a BasicTracerProvider exporting to an InMemorySpanExporter.
 */
import {
  ROOT_CONTEXT,
  type Attributes,
  type Context,
  type ContextManager,
} from '@opentelemetry/api';
import {
  DataPointType,
  MeterProvider,
  MetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** The SDK's own extension point: a pull reader whose `collect()` the spec calls. */
class CollectingReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A histogram point, reduced to what the specs compare. */
export interface HistogramValue {
  count: number;
  sum: number;
  min: number | undefined;
  max: number | undefined;
}

export interface Point<V = number | HistogramValue> {
  attributes: Attributes;
  value: V;
}

export interface Collected {
  /** Every metric of the collection by name (the specs' meter is one scope). */
  readonly metrics: Map<string, MetricData>;
  /** The points of `name`, attributes and value; [] when the metric has none. */
  points(name: string): Point[];
  /** Sums and gauges: `value` a number. */
  numbers(name: string): Point<number>[];
  histograms(name: string): Point<HistogramValue>[];
}

function simplify(metric: MetricData): Point[] {
  if (metric.dataPointType === DataPointType.HISTOGRAM) {
    return metric.dataPoints.map(({ attributes, value }) => ({
      attributes,
      value: { count: value.count, sum: value.sum ?? 0, min: value.min, max: value.max },
    }));
  }
  if (metric.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) {
    throw new Error(`unexpected exponential histogram ${metric.descriptor.name}`);
  }
  return metric.dataPoints.map(({ attributes, value }) => ({ attributes, value }));
}

export function metricsSdk() {
  const reader = new CollectingReader();
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('rxc-spec');
  return {
    reader,
    provider,
    meter,
    async collect(): Promise<Collected> {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
      const metrics = new Map<string, MetricData>();
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) metrics.set(metric.descriptor.name, metric);
      }
      const points = (name: string): Point[] => {
        const metric = metrics.get(name);
        return metric === undefined ? [] : simplify(metric);
      };
      return {
        metrics,
        points,
        numbers: (name) => points(name) as Point<number>[],
        histograms: (name) => points(name) as Point<HistogramValue>[],
      };
    },
  };
}

export function tracingSdk() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return {
    provider,
    exporter,
    tracer: provider.getTracer('rxc-spec'),
    spans: () => exporter.getFinishedSpans(),
  };
}

/**
 * A synchronous context manager (what `context.with` needs to make a span active): the API's
 * default is a no-op, and the async-hooks one is a package we do not otherwise need.
 */
export class StackContextManager implements ContextManager {
  #current: Context = ROOT_CONTEXT;

  active(): Context {
    return this.#current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const previous = this.#current;
    this.#current = context;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.#current = previous;
    }
  }
  bind<T>(_context: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#current = ROOT_CONTEXT;
    return this;
  }
}
