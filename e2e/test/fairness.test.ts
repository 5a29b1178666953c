import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode, MemoryDedupStore, MemoryEventStore } from "@assured/core";
import type { DedupStore, EventStore } from "@assured/core/store";
import { DEFAULT_LIMITS, RATE_COSTS } from "@assured/server";
import { createSqliteStores } from "@assured/store-sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { HammerProcess } from "../src/fairness/hammer-process.js";
import type { HammerConfig, HammerStats } from "../src/fairness/hammer-protocol.js";
import { RecordingClient } from "../src/recording-client.js";
import { type RunningSocketServer, startSocketServer } from "../src/socket-server.js";

/**
 * The promise of work-based rate limits (G11, DESIGN §8): with the DEFAULT limits, clients that
 * hammer the most expensive reads as fast as the server lets them (within their token buckets)
 * cannot make another client wait. Four hostile clients in another process (so their own
 * decoding does not take this event loop) send `assured:heads` with `maxHeadsStreams` streams
 * and `assured:fetch` with `fetchLimit` over a stream with plenty of data — with the memory
 * store and with SQLite on a file — or messages; each keeps 4 requests in flight and backs
 * off briefly after `RATE_LIMITED`. A well-behaved client (a few dozen subscriptions, a
 * position check every second) measures its message round trip (`emit` → handler → result)
 * without them and under them, in the same run, in alternating phases (baseline, hammered,
 * baseline, hammered, baseline). Its median may at most double.
 *
 * With the frame-based limit of before (every frame 1 token, 500 a second), the heads-and-fetch
 * case measured a median of about 50 ms against 1.2 ms: the server was saturated.
 */

const directory = mkdtempSync(join(tmpdir(), "assured-e2e-fairness-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** The stream the hostile clients fetch: more records than one fetch may return. */
const ARCHIVE = "archive";
const ARCHIVE_RECORDS = 3 * DEFAULT_LIMITS.fetchLimit;
/** A chat-sized payload, about 500 bytes encoded. */
const text = "lorem ipsum dolor sit amet ".repeat(18);
/** The streams of the hostile heads requests: as many as one request may name. */
const ROOMS = Array.from({ length: DEFAULT_LIMITS.maxHeadsStreams }, (_, i) => `room:${i}`);
/** The well-behaved client's subscriptions: a few dozen. */
const VICTIM_STREAMS = ROOMS.slice(0, 32);

/** Round trips per phase, and phases: baseline, hammered, baseline, hammered, baseline. */
const SAMPLES_PER_PHASE = 250;
/**
 * A well-behaved client stays within its own limit: the victim spends at most this share of
 * `tokensPerSecond` (messages, plus its position checks in the rest). Unpaced, its round trips
 * (about 1 ms, then 0–3 ms apart) would spend 3 tokens each about 300 times a second, nearly
 * twice the default rate, and its own position checks would then be refused (RATE_LIMITED)
 * whether or not anybody else hammers the server.
 */
const VICTIM_RATE_SHARE = 0.6;
/** The least time from the start of one victim round trip to the start of the next. */
const ROUND_TRIP_SPACING_MS = Math.ceil(
  (1000 * RATE_COSTS.message) / (VICTIM_RATE_SHARE * DEFAULT_LIMITS.tokensPerSecond),
);
const HAMMERED_PHASES = 2;
/**
 * A measurement can only decide the 2× bound if the machine's own noise is smaller than that
 * bound while it runs (other test runs share these two cores): the medians of its baseline
 * phases must agree within this factor, else the attempt is measured again, at most
 * `MAX_ATTEMPTS` times (and the last attempt is asserted anyway). The bound is never relaxed.
 */
const STABLE_BASELINE = 2;
const MAX_ATTEMPTS = 3;

interface StoreCase {
  name: string;
  open(): { store: EventStore; dedupStore: DedupStore; close(): Promise<void> };
}

const storeCases: StoreCase[] = [
  {
    name: "memory",
    open: () => ({
      store: new MemoryEventStore(),
      dedupStore: new MemoryDedupStore(),
      close: async () => undefined,
    }),
  },
  {
    name: "sqlite",
    open: () => {
      const stores = createSqliteStores({ path: join(directory, "fairness.sqlite") });
      return { store: stores.eventStore, dedupStore: stores.dedupStore, close: stores.close };
    },
  },
];

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * `count` sequential round trips of the victim, started `ROUND_TRIP_SPACING_MS` plus 0–3 ms
 * apart (so they stay within its rate and sample every phase of the hammering).
 */
async function roundTrips(victim: RecordingClient, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const reply = await victim.client.emit("echo", { i });
    samples.push(performance.now() - started);
    expect(reply).toEqual({ i });
    const next = started + ROUND_TRIP_SPACING_MS + Math.floor(Math.random() * 4);
    await sleep(Math.max(0, next - performance.now()));
  }
  return samples;
}

interface Measurement {
  baselinePhases: number[];
  hammeredPhases: number[];
  baseline: number;
  hammered: number;
  ratio: number;
  stable: boolean;
  stats: HammerStats[];
}

async function measure(victim: RecordingClient, hammer: HammerProcess): Promise<Measurement> {
  const baseline: number[][] = [];
  const hammered: number[][] = [];
  const stats: HammerStats[] = [];
  for (let phase = 0; phase < HAMMERED_PHASES; phase++) {
    baseline.push(await roundTrips(victim, SAMPLES_PER_PHASE));
    await hammer.hammer();
    hammered.push(await roundTrips(victim, SAMPLES_PER_PHASE));
    stats.push(await hammer.stop());
    await sleep(300); // the requests still in flight are answered
  }
  baseline.push(await roundTrips(victim, SAMPLES_PER_PHASE));
  const baselinePhases = baseline.map(median);
  const result = {
    baselinePhases,
    hammeredPhases: hammered.map(median),
    baseline: median(baseline.flat()),
    hammered: median(hammered.flat()),
    stable: Math.max(...baselinePhases) <= STABLE_BASELINE * Math.min(...baselinePhases),
    stats,
  };
  return { ...result, ratio: result.hammered / result.baseline };
}

const ms = (value: number) => `${value.toFixed(3)} ms`;

interface HostileCase {
  title: string;
  store: StoreCase;
  hostile: Pick<HammerConfig, "headsClients" | "fetchClients" | "messageClients">;
}

const memory = storeCases[0]!;
const sqlite = storeCases[1]!;
const headsAndFetch = { headsClients: 2, fetchClients: 2 };
const cases: HostileCase[] = [
  { title: "hammering heads and fetch", store: memory, hostile: headsAndFetch },
  { title: "hammering heads and fetch", store: sqlite, hostile: headsAndFetch },
  {
    title: "hammering messages",
    store: memory,
    hostile: { headsClients: 0, fetchClients: 0, messageClients: 4 },
  },
];

async function seedStreams(stores: { store: EventStore }): Promise<string> {
  const payload = encode({ text });
  for (let n = 0; n < ARCHIVE_RECORDS; n += 500) {
    await stores.store.append(
      ARCHIVE,
      Array.from({ length: 500 }, () => ({ name: "e", payload })),
    );
  }
  for (const room of ROOMS) await stores.store.append(room, [{ name: "e", payload }]);
  return (await stores.store.head(ARCHIVE)).epoch;
}

function describeStats(s: HammerStats): string {
  const perSecond = (n: number) => Math.round((n * 1000) / s.ms);
  return `${s.served} served in ${Math.round(s.ms)} ms (${perSecond(s.heads)} heads streams/s, ${perSecond(s.records)} records/s, ${((s.bytes * 1000) / s.ms / 2 ** 20).toFixed(1)} MiB/s, ${perSecond(s.messages)} messages/s), ${s.limited} RATE_LIMITED, ${s.failed} failed`;
}

describe("fairness: rate limits charge work, not frames (G11)", () => {
  for (const { title, store: storeCase, hostile } of cases) {
    it(`G11: with default limits and the ${storeCase.name} store, four clients ${title} within the limits at most double another client's median round trip`, async () => {
      const stores = storeCase.open();
      let server: RunningSocketServer | undefined;
      let victim: RecordingClient | undefined;
      let hammer: HammerProcess | undefined;
      try {
        const epoch = await seedStreams(stores);
        // Default limits: nothing is raised or lowered for the test.
        server = await startSocketServer({ store: stores.store, dedupStore: stores.dedupStore });
        server.assured.on("echo", (data) => data);
        // A well-behaved client: a few dozen subscriptions, a position check every second.
        victim = new RecordingClient(server.url, { positionCheckIntervalMs: 1_000 });
        for (const stream of VICTIM_STREAMS) victim.client.subscribe(stream, { from: "earliest" });
        await victim.client.connect();
        const subscribed = victim;
        await subscribed.changes.until(() => subscribed.outcomes.length === VICTIM_STREAMS.length, {
          what: "the victim's subscriptions",
        });

        hammer = await HammerProcess.start({
          url: server.url,
          ...hostile,
          inFlight: 4,
          headsStreams: ROOMS,
          fetch: { stream: ARCHIVE, epoch, after: 0, limit: DEFAULT_LIMITS.fetchLimit },
          backoff: { minMs: 5, maxMs: 100 },
        });
        await roundTrips(victim, 100); // warm-up

        let measurement: Measurement | undefined;
        for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
          measurement = await measure(victim, hammer);
          const m = measurement;
          console.log(
            `[fairness ${storeCase.name}, ${title}] attempt ${attempt}: baseline p50 ${ms(m.baseline)} (phases ${m.baselinePhases.map(ms).join(", ")}), hammered p50 ${ms(m.hammered)} (phases ${m.hammeredPhases.map(ms).join(", ")}), ratio ${m.ratio.toFixed(2)}; hostile clients per phase: ${m.stats.map(describeStats).join("; ")}`,
          );
          if (m.stable) break;
        }
        const m = measurement!;
        // The hostile clients pushed against their limits, and were served what they asked.
        for (const s of m.stats) {
          expect(s.served).toBeGreaterThan(0);
          expect(s.limited).toBeGreaterThan(0);
          expect(s.failed).toBe(0);
          if (hostile.headsClients > 0) expect(s.heads).toBeGreaterThan(0);
          if (hostile.fetchClients > 0) expect(s.records).toBeGreaterThan(0);
          if (hostile.messageClients) expect(s.messages).toBeGreaterThan(0);
        }
        // The well-behaved client was never rate limited.
        expect(victim.errors.map((e) => e.code)).not.toContain("RATE_LIMITED");
        expect(m.ratio).toBeLessThanOrEqual(2);
      } finally {
        await hammer?.close();
        await victim?.close();
        await server?.close();
        await stores.close();
      }
    }, 180_000);
  }
});
