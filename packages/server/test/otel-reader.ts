import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";

type Attributes = Record<string, string | number | boolean>;

/**
 * An OpenTelemetry SDK meter provider exporting to memory: `meter(name)` to inject, `collect()`
 * to export what was recorded so far and read it back.
 */
export function otelReader() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // The interval never fires within a test: every export is a `forceFlush`.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    meter: (name: string) => provider.getMeter(name),
    /** Exports now; the metrics of the last export by scope and instrument name. */
    async collect(): Promise<Collected> {
      await reader.forceFlush();
      const exports = exporter.getMetrics();
      const last = exports[exports.length - 1];
      const byName = new Map<string, MetricData & { scope: string }>();
      for (const scope of last?.scopeMetrics ?? []) {
        for (const metric of scope.metrics) {
          byName.set(metric.descriptor.name, { ...metric, scope: scope.scope.name });
        }
      }
      return new Collected(byName);
    },
    shutdown: () => provider.shutdown(),
  };
}

/** Exported metrics, read by instrument name and attributes. */
export class Collected {
  constructor(readonly byName: Map<string, MetricData & { scope: string }>) {}

  /** The instrument's metric data (throws if it recorded nothing). */
  metric(name: string): MetricData & { scope: string } {
    const metric = this.byName.get(name);
    if (metric === undefined) {
      throw new Error(`no metric ${name}; recorded: ${[...this.byName.keys()].join(", ")}`);
    }
    return metric;
  }

  /** The sum of a counter's (or gauge's) points whose attributes include `attributes`. */
  value(name: string, attributes: Attributes = {}): number {
    return this.#points(name, attributes).reduce((sum, p) => sum + (p.value as number), 0);
  }

  /** Count and sum of a histogram's points whose attributes include `attributes`. */
  histogram(
    name: string,
    attributes: Attributes = {},
  ): { count: number; sum: number; max: number } {
    let count = 0;
    let sum = 0;
    let max = 0;
    for (const point of this.#points(name, attributes)) {
      const value = point.value as Histogram;
      count += value.count;
      sum += value.sum ?? 0;
      max = Math.max(max, value.max ?? 0);
    }
    return { count, sum, max };
  }

  #points(name: string, attributes: Attributes): DataPoint<unknown>[] {
    const points = this.metric(name).dataPoints as DataPoint<unknown>[];
    return points.filter((p) =>
      Object.entries(attributes).every(([key, value]) => p.attributes[key] === value),
    );
  }
}
