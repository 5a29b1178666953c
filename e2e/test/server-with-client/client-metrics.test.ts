import { CLIENT_METER_NAME, createAssuredClient, type EventMeta } from "@assured/client";
import { AssuredError, MemoryEventStore } from "@assured/core";
import { io as connectClient } from "socket.io-client";
import { describe, expect, it, vi } from "vitest";
import { otelReader } from "../../src/otel-reader.js";
import { seed, useServerAndClients } from "./harness.js";

const rig = useServerAndClients();
const client = rig.client;

describe("client metrics (OpenTelemetry SDK, in-memory exporter) against a real server", () => {
  it("outbox depth, messages sent, retried and answered", async () => {
    const server = await rig.start({ onError: () => undefined });
    let calls = 0;
    server.assured.on("flaky", () => {
      // Retryable and not stored: the client sends the message again.
      if (++calls === 1) throw new AssuredError("STORE_UNAVAILABLE", "try again");
      return "done";
    });
    server.assured.on("boom", () => {
      throw new Error("refused");
    });
    const otel = otelReader();
    rig.after(() => otel.shutdown());
    const { assured } = client(server.url, {
      meter: otel.meter(CLIENT_METER_NAME),
      retry: { initialMs: 5, maxMs: 5, factor: 1 },
    });
    // Emitted before connect(): stored in the outbox, waiting.
    const flaky = assured.emit("flaky", {});
    await vi.waitFor(() => expect(assured.stats().outboxDepth).toBe(1));
    const before = await otel.collect();
    expect(before.metric("assured.client.outbox.depth").scope).toBe("@assured/client");
    expect(before.value("assured.client.outbox.depth")).toBe(1);

    await assured.connect();
    await expect(flaky).resolves.toBe("done");
    await expect(assured.emit("boom", {})).rejects.toMatchObject({ code: "HANDLER_ERROR" });

    const m = await otel.collect();
    expect(m.value("assured.client.messages.sent")).toBe(2);
    expect(m.value("assured.client.messages.retried")).toBe(1);
    expect(m.value("assured.client.messages.answered", { outcome: "ok" })).toBe(1);
    expect(m.value("assured.client.messages.answered", { outcome: "error" })).toBe(1);
    expect(m.value("assured.client.outbox.depth")).toBe(0);
    expect(assured.stats()).toMatchObject({
      outboxDepth: 0,
      messagesSent: 2,
      messagesRetried: 1,
      messagesAnswered: { ok: 1, error: 1 },
    });
  });

  it("delivery lag: now minus the event's append time, when the handler resolves", async () => {
    // Events appended "10 s ago" by the store's clock: their lag is at least 10 s.
    const store = new MemoryEventStore({ clock: () => Date.now() - 10_000 });
    await seed(store, "room", 5);
    const server = await rig.start({ store });
    const otel = otelReader();
    rig.after(() => otel.shutdown());
    const { assured } = client(server.url, { meter: otel.meter(CLIENT_METER_NAME) });
    let last = 0;
    assured.on("e", (_data, meta: EventMeta) => {
      last = meta.offset;
    });
    assured.subscribe("room", { from: "earliest" });
    await assured.connect();
    await vi.waitFor(() => expect(last).toBe(5));
    const m = await otel.collect();
    const lag = m.histogram("assured.client.delivery.lag");
    expect(m.metric("assured.client.delivery.lag").descriptor.unit).toBe("ms");
    expect(lag.count).toBe(5);
    expect(lag.sum).toBeGreaterThanOrEqual(50_000);
    expect(lag.max).toBeLessThan(60_000);
    const stats = assured.stats();
    expect(stats.eventsDelivered).toBe(5);
    expect(stats.deliveryLagMs.count).toBe(5);
    expect(stats.deliveryLagMs.sum).toBeGreaterThanOrEqual(50_000);
  });

  it("a handler that throws records no delivery", async () => {
    const store = new MemoryEventStore();
    await seed(store, "room", 3);
    const server = await rig.start({ store });
    const { assured } = client(server.url, { meter: false });
    const failed = new Promise<AssuredError>((resolve) => assured.onError(resolve));
    assured.on("e", (_data, meta: EventMeta) => {
      if (meta.offset === 2) throw new Error("cannot");
    });
    assured.subscribe("room", { from: "earliest" });
    await assured.connect();
    expect((await failed).code).toBe("HANDLER_ERROR");
    expect(assured.stats().eventsDelivered).toBe(1);
  });

  it("a bad meter option is refused", () => {
    const socket = connectClient("http://127.0.0.1:1", { autoConnect: false });
    expect(() => createAssuredClient(socket, { meter: { createCounter: 1 } as never })).toThrow(
      /meter must be an OpenTelemetry Meter/,
    );
  });
});
