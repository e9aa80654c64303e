/**
 * The OpenTelemetry SDK as an application would install it, for the telemetry section's "SDK" app
 * process: a global MeterProvider with a reader exporting every 5 s (cumulative, in memory), a
 * global tracer provider whose spans go through a BatchSpanProcessor (the SDK's default processor)
 * to an exporter that counts and drops them, and the AsyncLocalStorage context manager (what makes
 * a span the active one across `await`). Every span is sampled (the default: parent-based, always
 * on). Installed before the app is created: the library takes its meter when its module is built.
 */
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';

/** What the SDK recorded: metric totals by name, and the spans exported by name. */
export interface RecordedTelemetry {
  /** Sum of every data point's value (counters) or count (histograms), by metric name. */
  metrics: Record<string, number>;
  spans: Record<string, number>;
}

/** Counts the spans it is given, by name, and keeps none. */
class CountingSpanExporter implements SpanExporter {
  readonly counts: Record<string, number> = {};

  export(spans: ReadableSpan[], resultCallback: (result: { code: 0 }) => void): void {
    for (const span of spans) this.counts[span.name] = (this.counts[span.name] ?? 0) + 1;
    resultCallback({ code: 0 /* ExportResultCode.SUCCESS */ });
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export interface InstalledSdk {
  /** Collects the metrics now and flushes the spans: what was recorded so far. */
  recorded(): Promise<RecordedTelemetry>;
  shutdown(): Promise<void>;
}

export function installTelemetrySdk(): InstalledSdk {
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 5000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spans = new CountingSpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(spans)],
  });
  // BENCH_TELEMETRY_SDK=metrics or traces installs only that half (where the cost is).
  const parts = process.env.BENCH_TELEMETRY_SDK?.trim() || 'all';
  if (parts !== 'metrics') {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    if (parts !== 'context') trace.setGlobalTracerProvider(tracerProvider);
  }
  if (parts !== 'traces' && parts !== 'context') metrics.setGlobalMeterProvider(meterProvider);
  return {
    async recorded() {
      await tracerProvider.forceFlush();
      const { resourceMetrics } = await reader.collect();
      return { metrics: metricTotals(resourceMetrics), spans: { ...spans.counts } };
    },
    async shutdown() {
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    },
  };
}

function metricTotals(resourceMetrics: ResourceMetrics): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      let total = 0;
      for (const point of metric.dataPoints) {
        const value: unknown = point.value;
        total +=
          typeof value === 'number' ? value : ((value as { count?: number }).count ?? Number.NaN);
      }
      totals[metric.descriptor.name] = total;
    }
  }
  return totals;
}
