import type { Meter } from "@opentelemetry/api";
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
type ScopedMetric = MetricData & { scope: string };

/**
 * An OpenTelemetry SDK meter provider that exports to memory, only when `collect()` is called.
 *
 * @example
 * const otel = otelReader();
 * const client = createAssuredClient(socket, { meter: otel.meter(CLIENT_METER_NAME) });
 * expect((await otel.collect()).value("assured.client.messages.sent")).toBe(1);
 */
export function otelReader() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // An hour: the reader never exports by itself during a test.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    meter: (name: string): Meter => provider.getMeter(name),
    /** Exports what was recorded so far and returns it, by instrument name. */
    async collect(): Promise<Collected> {
      await reader.forceFlush();
      const scopes = exporter.getMetrics().at(-1)?.scopeMetrics ?? [];
      return new Collected(
        scopes.flatMap((s) => s.metrics.map((m) => ({ ...m, scope: s.scope.name }))),
      );
    },
    shutdown: (): Promise<void> => provider.shutdown(),
  };
}

/** One export's metrics, read by instrument name and (a subset of) point attributes. */
export class Collected {
  constructor(readonly metrics: readonly ScopedMetric[]) {}

  /** The instrument's metric data and scope; throws if it recorded nothing. */
  metric(name: string): ScopedMetric {
    const found = this.metrics.find((m) => m.descriptor.name === name);
    if (found !== undefined) return found;
    const recorded = this.metrics.map((m) => m.descriptor.name).join(", ");
    throw new Error(`no metric ${name}; recorded: ${recorded}`);
  }

  /** Sum of the counter's or gauge's points whose attributes include `attributes`. */
  value(name: string, attributes: Attributes = {}): number {
    let sum = 0;
    for (const point of this.#points(name, attributes)) sum += point.value as number;
    return sum;
  }

  /** Count, sum and max of the histogram's points whose attributes include `attributes`. */
  histogram(name: string, attributes: Attributes = {}) {
    const totals = { count: 0, sum: 0, max: 0 };
    for (const point of this.#points(name, attributes)) {
      const h = point.value as Histogram;
      totals.count += h.count;
      totals.sum += h.sum ?? 0;
      totals.max = Math.max(totals.max, h.max ?? 0);
    }
    return totals;
  }

  #points(name: string, attributes: Attributes): DataPoint<unknown>[] {
    return (this.metric(name).dataPoints as DataPoint<unknown>[]).filter((point) =>
      Object.entries(attributes).every(([key, value]) => point.attributes[key] === value),
    );
  }
}
