import { metrics } from "@opentelemetry/api";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { afterEach, describe, expect, it } from "vitest";
import { ClientMetrics } from "../src/client-metrics.js";
import { CLIENT_METER_NAME } from "../src/index.js";

afterEach(() => metrics.disable());

describe("ClientMetrics", () => {
  it("by default records to the global meter of @opentelemetry/api (imported lazily)", async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    const client = new ClientMetrics(undefined, () => 4);
    await client.ready;
    client.sent(false);
    client.sent(true);
    client.answered(true);
    await reader.forceFlush();
    const scopes = exporter.getMetrics().at(-1)?.scopeMetrics ?? [];
    expect(scopes.map((s) => s.scope.name)).toEqual([CLIENT_METER_NAME]);
    const values = Object.fromEntries(
      scopes[0]!.metrics.map((m) => [m.descriptor.name, m.dataPoints[0]?.value]),
    );
    expect(values).toEqual({
      "assured.client.messages.sent": 1,
      "assured.client.messages.retried": 1,
      "assured.client.messages.answered": 1,
      "assured.client.outbox.depth": 4,
    });
    client.close();
    await provider.shutdown();
  });

  it("meter: false records nothing and stats still count", () => {
    const client = new ClientMetrics(false, () => 2);
    client.sent(false);
    client.delivered(Date.now() - 1_000);
    const stats = client.snapshot();
    expect(stats).toMatchObject({ outboxDepth: 2, messagesSent: 1, eventsDelivered: 1 });
    expect(stats.deliveryLagMs.count).toBe(1);
    expect(stats.deliveryLagMs.sum).toBeGreaterThanOrEqual(1_000);
  });
});
