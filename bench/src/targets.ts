// The project's performance targets (issue 11's list), checked against one run's results: every
// ratio compares systems measured in the same run. A target whose system was not part of the run
// (`--only`, `--stores`) is left out; one whose system failed is missed.
import type { LiveOutcome } from "./live.js";
import type { BenchResults, LiveSection, TargetCheck } from "./results.js";
import type { RoundsResult } from "./rounds.js";

/** Live throughput: Assured (memory) ÷ plain Socket.IO, in every live workload. */
export const LIVE_VS_PLAIN = 1.0;
/** Live throughput: Assured (memory) ÷ Socket.IO batched by hand per turn, in every workload. */
export const LIVE_VS_BATCHED = 0.9;
/** Live throughput at one event per turn: Assured (SQLite) ÷ plain Socket.IO. */
export const LIVE_SQLITE_ONE_PER_TURN = 0.8;
/** Latency p50 to 100 clients: Assured (memory) ÷ plain Socket.IO, at most. */
export const LATENCY_P50_VS_PLAIN = 1.2;
/** Catch-up: how many times faster than Socket.IO's recovery, per store. */
export const CATCH_UP_SPEEDUP = { memory: 6, sqlite: 4, redis: 4 } as const;
/** Client → server on loopback: Assured `client.emit` ÷ plain `emitWithAck`, per store. */
export const MESSAGES_VS_PLAIN = {
  memory: 0.9,
  sqlite: 0.4,
  redis: 0.4,
  mongodb: 0.1,
  postgres: 0.4,
} as const;
/** The largest reconnect storm, per Assured store: time, server RSS growth and lag, at most. */
export const STORM = { seconds: 3, rssGrowthMb: 64, lagMaxMs: 100 } as const;
/** Bytes per retained event in the memory store, at most. */
export const RETAINED_BYTES_MEMORY = 250;
/** PostgreSQL `eventStore.append` ÷ the bare driver's batched INSERT, per group size. */
export const POSTGRES_APPEND_VS_DRIVER = 0.5;

const STORE_NAMES: Record<string, string> = {
  memory: "memory",
  sqlite: "SQLite",
  redis: "Redis",
  mongodb: "MongoDB (Mongo-wire)",
  postgres: "PostgreSQL",
};

function median(result: RoundsResult | undefined): number | null {
  return result && "median" in result ? result.median : null;
}

function liveRate(outcome: LiveOutcome | undefined): number | null {
  return outcome && "deliveriesPerSecond" in outcome ? outcome.deliveriesPerSecond : null;
}

function liveP50(outcome: LiveOutcome | undefined): number | null {
  return outcome && "deliveriesPerSecond" in outcome ? outcome.latencyP50Ms : null;
}

const ratioOf = (a: number | null, b: number | null) =>
  a !== null && b !== null && b > 0 ? a / b : null;

/** Whether `measured` meets `goal` in `direction`; an unmeasured value never does. */
export function meets(
  measured: number | null,
  goal: number,
  direction: "atLeast" | "atMost" = "atLeast",
): boolean {
  if (measured === null || !Number.isFinite(measured)) return false;
  return direction === "atLeast" ? measured >= goal : measured <= goal;
}

/** Every target of the issue that this run measured, with its measured value and whether it is met. */
export function checkTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const check = (
    target: string,
    measured: number | null,
    goal: number,
    note: string,
    extra: Pick<TargetCheck, "direction" | "unit"> = {},
  ) =>
    checks.push({
      target,
      measured,
      goal,
      ...extra,
      met: meets(measured, goal, extra.direction),
      note,
    });

  for (const section of results.live) liveTargets(section, check);

  const catchUp = results.catchUp.results;
  const find = (list: RoundsResult[], key: string) => list.find((r) => r.system === key);
  for (const [kind, goal] of Object.entries(CATCH_UP_SPEEDUP)) {
    if (!find(catchUp, `assured-${kind}`)) continue;
    check(
      `Catch-up of ${results.catchUp.missed.toLocaleString("en-US")}, ${STORE_NAMES[kind]}: Socket.IO recovery time ÷ Assured time`,
      ratioOf(median(find(catchUp, "socketio-csr")), median(find(catchUp, `assured-${kind}`))),
      goal,
      "how many times faster",
    );
  }

  const messages = results.clientToServer.results;
  for (const [kind, goal] of Object.entries(MESSAGES_VS_PLAIN)) {
    if (!find(messages, `assured-${kind}`)) continue;
    check(
      `Client → server (loopback), ${STORE_NAMES[kind]}: Assured ÷ plain emitWithAck`,
      ratioOf(median(find(messages, `assured-${kind}`)), median(find(messages, "socketio"))),
      goal,
      "acknowledged messages per second",
    );
  }

  const storms = results.storm?.results ?? [];
  const largest = Math.max(0, ...storms.map((r) => r.missed));
  for (const r of storms.filter((x) => x.missed === largest && x.system.startsWith("assured-"))) {
    const ok = "timeMs" in r ? r : undefined;
    const what = `Storm ${r.clients.toLocaleString("en-US")} × ${r.missed.toLocaleString("en-US")}, ${STORE_NAMES[r.system.slice("assured-".length)] ?? r.system}`;
    check(
      `${what}: time to all delivered`,
      ok ? ok.timeMs / 1000 : null,
      STORM.seconds,
      "seconds",
      {
        direction: "atMost",
        unit: "s",
      },
    );
    check(
      `${what}: server RSS growth`,
      ok ? ok.rssGrowthMb : null,
      STORM.rssGrowthMb,
      "peak minus start, MB",
      {
        direction: "atMost",
        unit: "MB",
      },
    );
    check(`${what}: server event-loop lag, max`, ok ? ok.lagMaxMs : null, STORM.lagMaxMs, "ms", {
      direction: "atMost",
      unit: "ms",
    });
  }

  for (const r of results.retainedMemory?.results ?? []) {
    if (r.store !== "memory") continue;
    check(
      `Memory per retained event, memory store (${r.events.toLocaleString("en-US")} events)`,
      "bytesPerEvent" in r ? r.bytesPerEvent : null,
      RETAINED_BYTES_MEMORY,
      "bytes per event, heap and buffers after a full GC",
      { direction: "atMost", unit: "B" },
    );
  }

  for (const w of results.storeWrites.results.filter((r) => r.store === "postgres")) {
    check(
      `Store append, PostgreSQL, ${w.groupSize} per write: Assured ÷ bare driver`,
      ratioOf(w.assuredPerSecond, w.rawPerSecond),
      POSTGRES_APPEND_VS_DRIVER,
      "events written per second",
    );
  }
  return checks;
}

/** The live workload's targets: memory against plain and batched, SQLite at one per turn, latency. */
function liveTargets(
  section: LiveSection,
  check: (
    target: string,
    measured: number | null,
    goal: number,
    note: string,
    extra?: Pick<TargetCheck, "direction" | "unit">,
  ) => void,
): void {
  const of = (key: string) => section.results.find((r) => r.system === key);
  const memory = of("assured-memory");
  if (memory) {
    check(
      `Live, ${section.title}: Assured (memory) ÷ plain Socket.IO`,
      ratioOf(liveRate(memory), liveRate(of("socketio"))),
      LIVE_VS_PLAIN,
      "deliveries per second",
    );
    if (of("socketio-batched")) {
      check(
        `Live, ${section.title}: Assured (memory) ÷ Socket.IO batched per turn`,
        ratioOf(liveRate(memory), liveRate(of("socketio-batched"))),
        LIVE_VS_BATCHED,
        "deliveries per second",
      );
    }
    if (section.clients >= 100 && section.latencySamples > 0) {
      check(
        `Latency p50, ${section.title}: Assured (memory) ÷ plain Socket.IO`,
        ratioOf(liveP50(memory), liveP50(of("socketio"))),
        LATENCY_P50_VS_PLAIN,
        "publish → handler, median",
        { direction: "atMost" },
      );
    }
  }
  const sqlite = of("assured-sqlite");
  if (sqlite && section.burst === 1) {
    check(
      `Live, ${section.title}: Assured (SQLite) ÷ plain Socket.IO`,
      ratioOf(liveRate(sqlite), liveRate(of("socketio"))),
      LIVE_SQLITE_ONE_PER_TURN,
      "deliveries per second",
    );
  }
}
