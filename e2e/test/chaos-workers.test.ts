import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  ChaosEventData,
  ChaosLogLine,
  ChaosMessageAnswer,
  ChaosMessageData,
} from "../src/chaos/chaos-log.js";
import { ClientWorkers, type WorkerStatus } from "../src/chaos/client-workers.js";
import { type RunningSocketServer, startSocketServer } from "../src/socket-server.js";

/**
 * The chaos run's client load in several processes (`ClientWorkers`): real clients in worker
 * processes against an in-process Assured server whose `record` handler answers
 * `{ node, client, n }`. Every client gets every event of both streams in order, sends its
 * messages, and each settles with its answer; a busy worker stalls alone; `stop` leaves
 * complete, well-formed logs.
 */

const NODE = "n1";
const STREAMS = ["chaos:a", "chaos:b"];
const WORKERS = 2;
const CLIENTS_PER_WORKER = 3;
const MAX_MESSAGES = 5;
const CLIENTS = Array.from({ length: WORKERS }, (_, w) =>
  Array.from({ length: CLIENTS_PER_WORKER }, (_, c) => `w${w}-c${c}`),
).flat();

const directory = mkdtempSync(join(tmpdir(), "assured-e2e-chaos-workers-"));
const startedAt = Date.now();
/** Handler runs per `${client}/${n}`. */
const handled = new Map<string, number>();
/** What each stream's events carry, by offset (index 0 is offset 1). */
const published = new Map<string, ChaosEventData[]>(STREAMS.map((s) => [s, []]));
let server: RunningSocketServer;
let workers: ClientWorkers | undefined;

async function publish(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    for (const stream of STREAMS) {
      const events = published.get(stream)!;
      const data: ChaosEventData = { stream, k: events.length + 1 };
      const { offset } = await server.assured.publish(stream, "e", data);
      events.push(data);
      expect(offset).toBe(events.length);
    }
  }
}

const head = (stream: string) => published.get(stream)!.length;

function caughtUp(status: WorkerStatus): boolean {
  return status.clients.every((c) => STREAMS.every((s) => c.delivered[s] === head(s)));
}

beforeAll(async () => {
  server = await startSocketServer({
    beforeListen(assured) {
      assured.on("record", async (data: ChaosMessageData): Promise<ChaosMessageAnswer> => {
        const key = `${data.client}/${data.n}`;
        handled.set(key, (handled.get(key) ?? 0) + 1);
        return { node: NODE, client: data.client, n: data.n };
      });
    },
  });
  // Some history before the clients start: they subscribe from "earliest".
  await publish(10);
  workers = await ClientWorkers.start({
    workers: WORKERS,
    clientsPerWorker: CLIENTS_PER_WORKER,
    url: server.url,
    streams: STREAMS,
    startedAt,
    messagesPerSecond: 20,
    maxMessages: MAX_MESSAGES,
    seed: 1234,
    dir: directory,
  });
}, 30_000);

afterAll(async () => {
  await workers?.kill();
  await server?.close();
  rmSync(directory, { recursive: true, force: true });
});

describe("chaos client workers", () => {
  it("every client gets every event of both streams and every message settles", async () => {
    const w = workers!;
    expect(w.count).toBe(WORKERS);
    await publish(20);
    const status = await w.waitUntil(
      (s) => s.every(caughtUp) && ClientWorkers.allSettled(s, MAX_MESSAGES),
      15_000,
      "every event delivered and every message settled",
    );
    expect(status.map((s) => s.worker)).toEqual(["w0", "w1"]);
    expect(status.flatMap((s) => s.clients.map((c) => c.name))).toEqual(CLIENTS);
    for (const c of status.flatMap((s) => s.clients)) {
      expect(c).toMatchObject({
        connected: true,
        pending: 0,
        deliveries: 2 * 30,
        emitted: MAX_MESSAGES,
        settled: MAX_MESSAGES,
        failed: 0,
        notRecovered: 0,
        errors: 0,
      });
    }
    expect(await w.settledAll()).toBe(true);
    // Each message ran exactly once on the server.
    expect(handled.size).toBe(CLIENTS.length * MAX_MESSAGES);
    expect([...handled.values()].every((runs) => runs === 1)).toBe(true);
  });

  it("a busy worker stalls alone: its status answers only after the block", async () => {
    const w = workers!;
    const t0 = Date.now();
    const busy = w.busy(0, 500).then(() => Date.now());
    const busyStatus = w.statusOf(0).then((status) => ({ status, at: Date.now() }));
    await publish(10);
    // The other worker keeps receiving meanwhile.
    let otherAt = 0;
    for (;;) {
      const other = await w.statusOf(1);
      if (caughtUp(other)) {
        otherAt = Date.now();
        break;
      }
      expect(Date.now() - t0).toBeLessThan(10_000);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const busyEnd = await busy;
    const { at } = await busyStatus;
    expect(busyEnd - t0).toBeGreaterThanOrEqual(500);
    expect(at - t0).toBeGreaterThanOrEqual(500);
    expect(otherAt).toBeLessThan(at);
    // Once free, the busy worker catches up too.
    await w.waitUntil((s) => s.every(caughtUp), 10_000, "the busy worker caught up");
  });

  it("stop flushes every log; the lines are complete and well-formed", async () => {
    const w = workers!;
    await w.stop();
    await expect(w.status()).rejects.toThrow(/exited \(0\)/);
    expect(w.logFiles()).toEqual([
      join(directory, "client-w0.jsonl"),
      join(directory, "client-w1.jsonl"),
    ]);
    const lines = await w.readLines();
    const runMs = Date.now() - startedAt;
    for (const line of lines) {
      expect(Number.isFinite(line.t)).toBe(true);
      expect(line.t).toBeGreaterThanOrEqual(0);
      expect(line.t).toBeLessThanOrEqual(runMs);
    }
    const kinds = new Set(lines.map((l) => l.kind));
    expect([...kinds].sort()).toEqual(["connection", "delivery", "emit", "outcome", "settled"]);
    for (const client of CLIENTS) {
      const mine = lines.filter((l) => "client" in l && l.client === client);
      // Connected once, disconnected by the stop.
      const connections = mine.filter(
        (l): l is Extract<ChaosLogLine, { kind: "connection" }> => l.kind === "connection",
      );
      expect(connections.map((l) => l.connected)).toEqual([true, false]);
      for (const stream of STREAMS) {
        const outcomes = mine.filter(
          (l): l is Extract<ChaosLogLine, { kind: "outcome" }> =>
            l.kind === "outcome" && l.stream === stream,
        );
        expect(outcomes).toHaveLength(1);
        expect(outcomes[0]).toMatchObject({ recovered: true, offset: 0 });
        const deliveries = mine.filter(
          (l): l is Extract<ChaosLogLine, { kind: "delivery" }> =>
            l.kind === "delivery" && l.stream === stream,
        );
        expect(deliveries.map((d) => d.offset)).toEqual(
          Array.from({ length: head(stream) }, (_, i) => i + 1),
        );
        expect(deliveries.map((d) => d.data)).toEqual(published.get(stream));
        expect(new Set(deliveries.map((d) => d.epoch)).size).toBe(1);
      }
      const emits = mine.filter(
        (l): l is Extract<ChaosLogLine, { kind: "emit" }> => l.kind === "emit",
      );
      expect(emits.map((e) => e.n)).toEqual([1, 2, 3, 4, 5]);
      const settled = mine.filter(
        (l): l is Extract<ChaosLogLine, { kind: "settled" }> => l.kind === "settled",
      );
      expect(settled).toHaveLength(MAX_MESSAGES);
      for (const emit of emits) {
        const answer = settled.find((s) => s.id === emit.id);
        expect(answer).toMatchObject({
          ok: true,
          n: emit.n,
          value: { node: NODE, client, n: emit.n },
        });
        expect(answer!.t).toBeGreaterThanOrEqual(emit.t);
      }
    }
  });

  it("start fails within its timeout, its workers killed, when the server is unreachable", async () => {
    const dir = join(directory, "unreachable");
    const started = Date.now();
    await expect(
      ClientWorkers.start({
        workers: 1,
        clientsPerWorker: 1,
        url: "http://127.0.0.1:1",
        streams: STREAMS,
        startedAt,
        messagesPerSecond: 1,
        maxMessages: 1,
        seed: 1,
        dir,
        startTimeoutMs: 3_000,
      }),
    ).rejects.toThrow(/client worker w0: not ready after 3000 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
