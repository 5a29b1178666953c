import { loadGlobalMeter, MetricInstruments } from "@assured/core/protocol";
import { metrics } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { SERVER_METER_NAME } from "../src/index.js";
import { ServerMetrics } from "../src/metrics.js";
import { otelReader } from "./otel-reader.js";

let otel: ReturnType<typeof otelReader> | undefined;
afterEach(async () => {
  metrics.disable();
  await otel?.shutdown();
  otel = undefined;
});

const gauges = { sockets: () => 3, subscriptions: () => 5 };
const missing = () =>
  Promise.reject(new Error("Cannot find package '@opentelemetry/api' imported from here"));

describe("loading @opentelemetry/api lazily (an optional peer)", () => {
  it("an import that fails (the package is not installed) gives no meter", async () => {
    await expect(loadGlobalMeter(missing, SERVER_METER_NAME)).resolves.toBeUndefined();
  });

  it("a module that is not the API gives no meter", async () => {
    await expect(loadGlobalMeter(async () => ({}), "x")).resolves.toBeUndefined();
    await expect(loadGlobalMeter(async () => ({ metrics: {} }), "x")).resolves.toBeUndefined();
    const odd = { metrics: { getMeter: () => ({ createCounter: () => ({}) }) } };
    await expect(loadGlobalMeter(async () => odd, "x")).resolves.toBeUndefined();
  });

  it("without a meter every instrument is a no-op that never throws", async () => {
    const instruments = new MetricInstruments(undefined, () => loadGlobalMeter(missing, "x"));
    const count = instruments.counter("c", { description: "d", unit: "1" });
    let observed = 0;
    instruments.gauge("g", { description: "d", unit: "1" }, () => observed++);
    await instruments.ready;
    count(1, { a: "b" });
    instruments.close();
    expect(observed).toBe(0);
  });

  it("a failing loader leaves the server's metrics off and stats() working", async () => {
    const instruments = new MetricInstruments(undefined, () => Promise.reject(new Error("no")));
    await expect(instruments.ready).resolves.toBeUndefined();
    const server = new ServerMetrics(false, gauges);
    server.published(2, "ok");
    expect(server.snapshot()).toMatchObject({ published: { ok: 1 }, sockets: 3, subscriptions: 5 });
  });

  it("with the API installed and an SDK registered globally, the default meter records to it", async () => {
    otel = otelReader();
    metrics.setGlobalMeterProvider(otel.provider);
    // The default (no `meter` option): the real dynamic import of @opentelemetry/api.
    const server = new ServerMetrics(undefined, gauges);
    await server.ready;
    server.published(4, "ok");
    server.dedupOutcome("duplicate");
    const m = await otel.collect();
    expect(m.metric("assured.publish.duration").scope).toBe("@assured/server");
    expect(m.histogram("assured.publish.duration", { outcome: "ok" })).toMatchObject({
      count: 1,
      sum: 4,
    });
    expect(m.value("assured.dedup.claims", { outcome: "duplicate" })).toBe(1);
    expect(m.value("assured.sockets")).toBe(3);
    expect(m.value("assured.subscriptions")).toBe(5);
    server.close();
  });

  it("a meter that throws never fails the measured operation", async () => {
    const broken = {
      createCounter: () => ({
        add: () => {
          throw new Error("exporter bug");
        },
      }),
      createUpDownCounter: () => {
        throw new Error("unsupported");
      },
      createHistogram: () => ({
        record: () => {
          throw new Error("exporter bug");
        },
      }),
      createObservableGauge: () => ({
        addCallback: () => undefined,
        removeCallback: () => undefined,
      }),
    };
    const server = new ServerMetrics(broken, gauges);
    server.published(1, "ok");
    server.queued(2);
    server.handlerError("x");
    expect(server.snapshot()).toMatchObject({ queuedMessages: 2, handlerErrors: 1 });
  });
});
