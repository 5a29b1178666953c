// `pnpm bench`: measures Assured against plain Socket.IO (also batched per turn by hand),
// Socket.IO's connection state recovery and Socket.IO's `retries` mode in one run, and writes
// results/latest.json, results/latest.md and docs/bench-chart.svg. Method and reading:
// docs/benchmarks.md.
//
// BENCH_SCALE (default 1) multiplies every amount of work, e.g. 0.1 for a quick smoke run;
// `--only <scenarios>` and `--stores <kinds>` (comma-separated) measure a part. Only a complete,
// full-scale run writes the results files.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { assuredReplay, type CatchUpSystem, socketIoRecovery } from "./catch-up.js";
import { renderChart } from "./chart.js";
import {
  assuredMessages,
  type Link,
  type MessageSystem,
  socketIoAcks,
} from "./client-to-server.js";
import { settleWithin } from "./countdown.js";
import { runLive } from "./live.js";
import {
  assuredSystem,
  type LiveSystem,
  socketIoBatchedSystem,
  socketIoSystem,
} from "./live-rigs.js";
import { renderMarkdown } from "./report.js";
import type { BenchResults, LiveSection } from "./results.js";
import { measureRetainedMemory, type RetainedMemoryResult } from "./retained-memory.js";
import { interleavedRounds, type RoundsResult } from "./rounds.js";
import { parseSelection, type Scenario } from "./selection.js";
import { measureStoreWrites, type StoreWriteResult } from "./store-writes.js";
import {
  type BenchStores,
  closeStores,
  openStores,
  renewStores,
  type StoreAvailability,
} from "./stores.js";
import { runStorms, STORM_SYSTEMS, type StormResult } from "./storm.js";
import { checkTargets } from "./targets.js";

const scale = Number(process.env.BENCH_SCALE ?? "1");
if (!(scale > 0 && scale <= 1)) throw new Error("BENCH_SCALE must be in (0, 1]");
const work = (n: number) => Math.max(1, Math.round(n * scale));
const args = process.argv.slice(2);
const selection = parseSelection(args[0] === "--" ? args.slice(1) : args);
const runs = (scenario: Scenario) => selection.scenarios.has(scenario);

/** The fixed amounts of work; docs/benchmarks.md explains each. */
const PLAN = {
  rounds: 5,
  /** Rounds of the persistent stores' catch-up and client → server rows (the Mongo-wire's: 1). */
  storeRounds: 3,
  live: [
    { title: "1 client", clients: 1, events: work(10_000), burst: 10, latencySamples: work(500) },
    { title: "100 clients", clients: 100, events: work(300), burst: 10, latencySamples: work(50) },
    {
      title: "1 client, 1 event per turn",
      clients: 1,
      events: work(2_000),
      burst: 1,
      latencySamples: 0,
    },
  ],
  catchUp: { missed: work(100_000), warmUp: work(10_000), timeoutMs: 30_000 },
  clientToServer: {
    messages: work(5_000),
    storeMessages: work(2_000),
    warmUp: work(200),
    /** The persistent stores' own code (claims, completes) warms up on this many first. */
    storeWarmUp: work(2_000),
    inFlight: 100,
    delayed: { oneWayDelayMs: 5, messages: work(300), warmUp: work(50) },
  },
  storeWrites: [
    { groupSize: 1, groups: work(200) },
    { groupSize: 100, groups: work(50) },
  ],
  /** Each storm once per system (a child process per storm); the server's gauges per storm. */
  storm: {
    clients: work(1_000),
    missed: [work(100), work(1_000)],
    warmUpMissed: work(20),
    timeoutMs: 60_000,
  },
  retainedMemory: { events: work(100_000), rounds: 3 },
} as const;

const log = (line: string) => console.log(line);
const started = performance.now();
const runId = `r${Date.now().toString(36)}`;
const loadAtStart = loadavg();

log("Opening stores…");
const availability = await openStores(runId, selection.stores);
for (const a of availability)
  log(`  ${a.kind}: ${a.available ? a.stores.setup : `unavailable: ${a.reason}`}`);
const persistent = (a: StoreAvailability) => a.kind !== "memory";
/**
 * The Mongo-wire test server (FerretDB on SQLite, started when MONGODB_URL is not set) answers
 * each catch-up in seconds and some hundred messages a second: its rows run once (the catch-up
 * without a warm-up, client → server after the main rows' 200 messages), to keep the run short.
 */
const slow = (a: StoreAvailability) => a.kind === "mongodb" && !process.env.MONGODB_URL;
const quick = (a: StoreAvailability) => persistent(a) && !slow(a);
/** The memory stores of the current scenario (renewed with the others), unless left out. */
function memoryStores(): BenchStores[] {
  const memory = availability.find((a) => a.kind === "memory");
  if (memory === undefined) return [];
  if (!memory.available) throw new Error("the memory store must always be available");
  return [memory.stores];
}

let storesUsed = false;
/** Gives the next scenario empty stores (those just opened are empty already). */
async function freshStores(): Promise<void> {
  if (storesUsed) await renewStores(availability);
  storesUsed = true;
}

/** A stand-in system for an unavailable store: it fails with the reason, so the row says why. */
function unavailable<S>(
  a: StoreAvailability,
  key: string,
  label: string,
  make: (s: BenchStores) => S,
): S | { key: string; label: string; open(): never; run(): never } {
  if (a.available) return make(a.stores);
  const fail = (): never => {
    throw new Error(`unavailable: ${a.reason}`);
  };
  return { key, label, open: fail, run: fail };
}

try {
  const live: LiveSection[] = [];
  for (const plan of runs("live") ? PLAN.live : []) {
    log(`Live delivery, ${plan.title}…`);
    await freshStores();
    const liveSystems: LiveSystem[] = [
      socketIoSystem(false),
      socketIoBatchedSystem(),
      socketIoSystem(true),
      ...availability.map((a) =>
        unavailable(a, `assured-${a.kind}`, `Assured, ${a.kind} store`, assuredSystem),
      ),
      ...memoryStores().map((memory) => assuredSystem(memory, "web")),
    ];
    const results = await runLive(liveSystems, { ...plan, rounds: PLAN.rounds }, log);
    live.push({ ...plan, rounds: PLAN.rounds, results });
  }

  let catchUpResults: RoundsResult[] = [];
  if (runs("catch-up")) {
    log(`Catch-up after ${PLAN.catchUp.missed} missed events…`);
    await freshStores();
    catchUpResults = await measureCatchUp();
  }

  let messageResults: RoundsResult[] = [];
  let delayedResults: RoundsResult[] = [];
  const c2s = PLAN.clientToServer;
  const { delayed } = c2s;
  if (runs("client-to-server")) {
    await freshStores();
    log("Client → server acknowledged messages…");
    messageResults = await measureClientToServer();
    log(`Client → server with ${2 * delayed.oneWayDelayMs} ms round trip…`);
    const link = { oneWayDelayMs: delayed.oneWayDelayMs };
    delayedResults = [
      ...(await measureMessages(messagesMain(), {
        messages: delayed.messages,
        rounds: PLAN.rounds,
        warmUp: delayed.warmUp,
        link,
      })),
      // The persistent stores but the slow Mongo-wire server, as a deployment over a network.
      ...(await measureMessages(availability.filter(quick).map(storeEmits), {
        messages: delayed.messages,
        rounds: PLAN.storeRounds,
        warmUp: delayed.warmUp,
        link,
      })),
    ];
  }

  const storeWrites: StoreWriteResult[] = [];
  if (runs("store-writes")) {
    log("Store appends against the bare driver…");
    await freshStores();
    for (const a of availability) {
      if (!a.available || !a.stores.raw) continue;
      for (const plan of PLAN.storeWrites) {
        const w = await measureStoreWrites(a.stores, { ...plan, rounds: PLAN.rounds });
        storeWrites.push(w);
        log(
          `  ${w.store}, ${w.groupSize} per write: Assured ${Math.round(w.assuredPerSecond ?? 0)}/s, driver ${Math.round(w.rawPerSecond ?? 0)}/s${w.error ? ` (${w.error})` : ""}`,
        );
      }
    }
  }

  const storm: StormResult[] = [];
  if (runs("storm")) {
    const { clients, missed } = PLAN.storm;
    log(`Reconnect storms, ${clients} clients × ${missed.join(" and ")} missed events…`);
    const systems = STORM_SYSTEMS.filter(
      (s) => s.spec.system !== "assured" || selection.stores.includes(s.spec.store),
    );
    for (const system of systems) storm.push(...(await runStorms(system, PLAN.storm, log)));
  }

  const retainedMemory: RetainedMemoryResult[] = [];
  if (runs("memory") && selection.stores.includes("memory")) {
    const { events, rounds } = PLAN.retainedMemory;
    log(`Memory per retained event, ${events} events…`);
    retainedMemory.push(await measureRetainedMemory(events, rounds, log));
  }

  const results: BenchResults = {
    generatedAt: new Date().toISOString(),
    durationSeconds: (performance.now() - started) / 1000,
    environment: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? "unknown",
      loadAverage: loadAtStart,
    },
    stores: availability.map((a) =>
      a.available
        ? { kind: a.kind, available: true, setup: a.stores.setup }
        : { kind: a.kind, available: false, reason: a.reason },
    ),
    live,
    catchUp: {
      missed: PLAN.catchUp.missed,
      rounds: PLAN.rounds,
      storeRounds: PLAN.storeRounds,
      results: catchUpResults,
    },
    clientToServer: {
      messages: c2s.messages,
      storeMessages: c2s.storeMessages,
      inFlight: c2s.inFlight,
      rounds: PLAN.rounds,
      results: messageResults,
      delayed: {
        roundTripMs: 2 * delayed.oneWayDelayMs,
        messages: delayed.messages,
        rounds: PLAN.rounds,
        results: delayedResults,
      },
    },
    storeWrites: { rounds: PLAN.rounds, results: storeWrites },
    storm: { rounds: 1, results: storm },
    retainedMemory: { results: retainedMemory },
    targets: [],
  };
  results.targets = checkTargets(results);
  const markdown = renderMarkdown(results);
  log("");
  log(markdown);
  if (scale === 1 && selection.complete) {
    const dir = new URL("../results/", import.meta.url);
    mkdirSync(dir, { recursive: true });
    writeAtomically(new URL("latest.json", dir), `${JSON.stringify(results, null, 2)}\n`);
    writeAtomically(new URL("latest.md", dir), markdown);
    writeAtomically(new URL("../../docs/bench-chart.svg", import.meta.url), renderChart(results));
    log("Wrote bench/results/latest.json, bench/results/latest.md and docs/bench-chart.svg");
  } else {
    log(
      `BENCH_SCALE=${scale}${selection.complete ? "" : `, ${args.join(" ")}`}: results not written.`,
    );
  }
} finally {
  await closeStores(availability);
}
// Socket.IO clients and drivers may keep idle handles (timers, sockets) after close.
process.exit(0);

/**
 * Catch-up of `PLAN.catchUp.missed` events: Socket.IO's recovery and the memory store's replay
 * in interleaved rounds; then the persistent stores', warmed up and in interleaved rounds
 * (`storeRounds`), except the slow Mongo-wire server's single round.
 */
async function measureCatchUp(): Promise<RoundsResult[]> {
  const main: CatchUpSystem[] = [
    socketIoRecovery(),
    ...memoryStores().flatMap((memory) => [assuredReplay(memory), assuredReplay(memory, "web")]),
  ];
  const replayOf = (a: StoreAvailability) =>
    unavailable(a, `assured-${a.kind}`, `Assured replay, ${a.kind} store`, assuredReplay);
  const { missed, warmUp, timeoutMs } = PLAN.catchUp;
  /** `systems` in `rounds` interleaved rounds, each warmed up first unless `cold`. */
  const measure = (systems: CatchUpSystem[], rounds: number, cold = false) =>
    interleavedRounds(
      systems,
      {
        rounds,
        warmUp: cold ? async () => {} : (s) => s.run(warmUp, timeoutMs),
        measure: (s) => s.run(missed, timeoutMs),
        describe: (s, round, value) => `${s.label}, round ${round + 1}: ${Math.round(value)} ms`,
      },
      log,
    );
  return [
    ...(await measure(main, PLAN.rounds)),
    ...(await measure(availability.filter(quick).map(replayOf), PLAN.storeRounds)),
    ...(await measure(availability.filter(slow).map(replayOf), 1, true)),
  ];
}

/** The Socket.IO baselines and the memory store's outbox (the rows measured in 5 rounds). */
function messagesMain(): MessageSystem[] {
  return [
    socketIoAcks(false),
    socketIoAcks(true),
    ...memoryStores().map((memory) => assuredMessages(memory)),
  ];
}

/**
 * Client → server on loopback: the main rows; then the persistent stores', warmed up and in
 * interleaved rounds (`storeRounds`), except the slow Mongo-wire server's single round.
 */
/** A persistent store's client → server row (or why it is unavailable). */
function storeEmits(a: StoreAvailability): MessageSystem {
  return unavailable(
    a,
    `assured-${a.kind}`,
    `Assured client.emit, ${a.kind} store`,
    assuredMessages,
  );
}

async function measureClientToServer(): Promise<RoundsResult[]> {
  const c2s = PLAN.clientToServer;
  return [
    ...(await measureMessages(messagesMain(), {
      messages: c2s.messages,
      rounds: PLAN.rounds,
      warmUp: c2s.warmUp,
    })),
    ...(await measureMessages(availability.filter(quick).map(storeEmits), {
      messages: c2s.storeMessages,
      rounds: PLAN.storeRounds,
      warmUp: c2s.storeWarmUp,
    })),
    ...(await measureMessages(availability.filter(slow).map(storeEmits), {
      messages: c2s.storeMessages,
      rounds: 1,
      warmUp: c2s.warmUp,
    })),
  ];
}

/** Opens each system's rig, then measures messages/s with interleaved rounds. */
async function measureMessages(
  systems: MessageSystem[],
  plan: { messages: number; rounds: number; warmUp: number; link?: Link },
): Promise<RoundsResult[]> {
  const rigs = new Map<string, Awaited<ReturnType<MessageSystem["open"]>>>();
  const { inFlight } = PLAN.clientToServer;
  const { messages, rounds, warmUp, link } = plan;
  try {
    return await interleavedRounds(
      systems,
      {
        rounds,
        async warmUp(s) {
          const rig = await s.open(link);
          rigs.set(s.key, rig);
          await rig.sendAll(warmUp, inFlight);
        },
        async measure(s) {
          const start = performance.now();
          await rigs.get(s.key)!.sendAll(messages, inFlight);
          return (messages * 1000) / (performance.now() - start);
        },
        describe: (s, round, value) =>
          `${s.label}, round ${round + 1}: ${Math.round(value)} messages/s`,
      },
      log,
    );
  } finally {
    for (const rig of rigs.values()) await settleWithin(rig.close(), 10_000);
  }
}

function writeAtomically(file: URL, text: string): void {
  const tmp = new URL(`${file.href}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
