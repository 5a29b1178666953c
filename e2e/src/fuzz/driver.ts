/**
 * Runs one fuzz session against a fresh server process: several concurrent hostile Socket.IO
 * peers, raw engine.io peers and HTTP probes, each playing fast-check–generated sessions derived
 * from one seed, next to one well-behaved `@assured/client`. Returns the figures of the run:
 * frames sent, crashes, the server's event-loop lag and RSS, leaks and other findings.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import fc from "fast-check";
import { httpProbe, peerSession, rawSession } from "./arbitraries.js";
import { deriveSeed, type FrameCounts, type FuzzContext } from "./context.js";
import { GoodClient, type GoodClientReport } from "./good-client.js";
import { runPeerSession } from "./hostile-peer.js";
import { runHttpProbe } from "./http-probe.js";
import { type Finding, type FindingKind, Findings } from "./oracle.js";
import { runRawSession } from "./raw-ws-peer.js";
import { GOOD_STREAM, type RoomLeak, type StreamHead } from "./rules.js";
import { FuzzServerProcess } from "./server-process.js";

/** Options of `runFuzz`. */
export interface FuzzOptions {
  /** Seed of every generated session (same seed, same sessions in the same order per driver). */
  seed: number;
  /** How long the hostile drivers run (ms), before the final checks. */
  durationMs: number;
  /** Concurrent hostile `socket.io-client` peers. */
  socketIoPeers: number;
  /** Concurrent raw engine.io/WebSocket peers. */
  rawPeers: number;
  /** Concurrent HTTP (long-polling handshake) probes. */
  httpProbes: number;
  /** Server store: memory, or SQLite on a temporary file. */
  store: "memory" | "sqlite";
  /** Pause between two rounds of the server's background publisher (ms). */
  publishIntervalMs: number;
  /** V8 heap limit of the server process (MiB). */
  maxOldSpaceMb: number;
  /**
   * Harness self-test (proves the oracle can fail): `oom` makes one message exhaust the
   * server's heap; `leak` makes the server authorize everything and give everybody one
   * principal.
   */
  selfTest?: "oom" | "leak";
  /**
   * Idle time after the last client left, before the final (garbage-collected) measurement:
   * longer than the server's connection-state-recovery window (10 s), so what is left is what
   * the server keeps for good (default 0).
   */
  settleMs?: number;
  /** Progress lines (long runs); none when absent. */
  log?: (line: string) => void;
  /** Interval of progress lines (default 10 s). */
  progressIntervalMs?: number;
}

/** The figures of one run. */
export interface FuzzReport {
  seed: number;
  store: "memory" | "sqlite";
  /** Idle time before the final measurement (ms). */
  settleMs: number;
  /** Wall time of the whole run, setup and final checks included (ms). */
  wallMs: number;
  /** How long the hostile drivers ran (ms). */
  fuzzMs: number;
  frames: FrameCounts & { total: number };
  /** Server processes that died (0 or 1: the run stops at the first). */
  crashes: number;
  crash?: {
    code: number | null;
    signal: string | null;
    fatal?: string;
    stderr: string;
    lastFrames: string[];
  };
  /** Largest event-loop delay the server measured (ms). */
  maxEventLoopLagMs: number;
  /** Largest 99th percentile of the event-loop delay over one report interval (ms). */
  maxEventLoopLagP99Ms: number;
  /**
   * Largest event-loop delay of the fuzzer's own process (ms): when it is large, slow answers
   * may be the fuzzer's fault, not the server's.
   */
  fuzzerMaxLagMs: number;
  /** `end` is measured after a full GC once every client left (and `settleMs` passed). */
  rssMb: { start: number; peak: number; end: number };
  heapUsedMb: { start: number; peak: number; end: number };
  /** (a) room leaks found by the server's audit plus (b) data leaks seen by clients. */
  leaks: number;
  roomLeaks: RoomLeak[];
  /** Room members of disconnected sockets (memory never freed), most in one audit. */
  ghostRoomMembers: number;
  findings: Record<FindingKind, number>;
  /** Finding counts per finer category ("leak:denied-records", …). */
  categories: Record<string, number>;
  /** What the server answered, per frame and outcome: how deep the generated frames got. */
  outcomes: Record<string, number>;
  samples: Finding[];
  good: GoodClientReport;
  /** Sockets still connected to the server at the end (the good client's gone by then). */
  socketsAtEnd: number;
}

const MB = 1024 * 1024;
const DRIVER_KINDS = ["sio", "raw", "http"];
const round = (n: number) => Math.round(n * 10) / 10;

/** A bounded log of the last frames sent, described only if the server crashes. */
class RecentFrames {
  readonly #items: (() => string)[] = [];
  push(describe: () => string): void {
    this.#items.push(describe);
    if (this.#items.length > 30) this.#items.shift();
  }
  list(): string[] {
    return this.#items.map((d) => d());
  }
}

/** Runs one fuzz session; never throws for what the server does (that is in the report). */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const tempDir =
    options.store === "sqlite" ? mkdtempSync(join(tmpdir(), "assured-fuzz-")) : undefined;
  const server = await FuzzServerProcess.start({
    store: options.store,
    ...(tempDir === undefined ? {} : { databasePath: join(tempDir, "fuzz.sqlite") }),
    publishIntervalMs: options.publishIntervalMs,
    statsIntervalMs: 250,
    maxPayloadBytes: 64 * 1024,
    connectionStateRecovery: true,
    ...(options.selfTest === undefined ? {} : { selfTest: options.selfTest }),
    maxOldSpaceMb: options.maxOldSpaceMb,
  });
  const findings = new Findings();
  const frames: FrameCounts = { socketIo: 0, raw: 0, http: 0, handshakes: 0, good: 0 };
  const recent = new RecentFrames();
  let stop = false;
  let heads: Record<string, StreamHead> = await server.heads();
  const epochOf = (stream: unknown): string =>
    (typeof stream === "string" ? heads[stream]?.epoch : undefined) ?? heads[GOOD_STREAM]!.epoch;
  const ctx: FuzzContext = {
    url: server.url,
    port: server.port,
    findings,
    frames,
    epochOf,
    sessionIds: [],
    stopped: () => stop || !server.alive,
  };
  const startStats = await server.measure(true);
  const ownLag = monitorEventLoopDelay({ resolution: 10 });
  ownLag.enable();
  const good = await GoodClient.start(server.url);
  log(
    `fuzz: seed ${options.seed}, server on ${server.url} (${options.store}), ${options.durationMs / 1000} s`,
  );

  // Background duties: refresh epochs, watch for a stall, print progress, note a crash.
  let lastProgress = Date.now();
  let stalled = false;
  const duties = setInterval(() => {
    if (!server.alive) return;
    // The server reports every 250 ms; 10 s of silence means its event loop is stuck.
    const silent = Date.now() - server.lastMessageAt;
    if (silent > 10_000 && !stalled) {
      stalled = true;
      findings.add("stall", "server", `no report from the server process for ${silent} ms`);
    } else if (silent <= 10_000) stalled = false;
    server.heads().then(
      (h) => {
        heads = h;
      },
      () => undefined,
    );
    if (Date.now() - lastProgress >= (options.progressIntervalMs ?? 10_000)) {
      lastProgress = Date.now();
      const last = server.stats.at(-1);
      log(
        `fuzz: ${round((Date.now() - started) / 1000)} s, frames ${totalFrames(frames)}, rss ${round((last?.rss ?? 0) / MB)} MB, ` +
          `fuzzer lag ${round(ownLag.max / 1e6)} ms, ` +
          `lag ${round(Math.max(0, ...server.stats.map((s) => s.lagMaxMs)))} ms, sockets ${last?.sockets ?? "?"}, ` +
          `findings ${JSON.stringify(Object.fromEntries(findings.counts))}, room leaks ${server.roomLeaks.length}`,
      );
    }
  }, 1_000);
  const stopOnExit = server.onExit(() => {
    stop = true;
  });

  const drive = async <T>(
    kind: string,
    index: number,
    arbitrary: fc.Arbitrary<T>,
    play: (item: T, where: string) => Promise<void>,
  ) => {
    for (let batch = 0; !ctx.stopped(); batch++) {
      const items = fc.sample(arbitrary, {
        seed: deriveSeed(options.seed, DRIVER_KINDS.indexOf(kind) * 1_000 + index, batch),
        numRuns: 8,
        // Mostly fast-check's bias towards small and edge values; every third batch without.
        unbiased: batch % 3 === 2,
      });
      for (const [item, value] of items.entries()) {
        if (ctx.stopped()) return;
        const where = `${kind} ${index} batch ${batch} item ${item}`;
        recent.push(() => `${where}: ${describeItem(value)}`);
        await play(value, where).catch((error: unknown) =>
          log(`fuzz: harness error in ${where}: ${String(error)}`),
        );
      }
    }
  };

  const drivers: Promise<void>[] = [good.run(ctx)];
  for (let i = 0; i < options.socketIoPeers; i++) {
    drivers.push(drive("sio", i, peerSession, (s, where) => runPeerSession(ctx, s, where)));
  }
  for (let i = 0; i < options.rawPeers; i++) {
    drivers.push(drive("raw", i, rawSession, (s, where) => runRawSession(ctx, s, where)));
  }
  for (let i = 0; i < options.httpProbes; i++) {
    drivers.push(drive("http", i, httpProbe, (p) => runHttpProbe(ctx, p)));
  }
  if (options.selfTest === "oom") drivers.push(selfTestCrash(ctx));

  const fuzzStarted = Date.now();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, options.durationMs);
    server.onExit(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  stop = true;
  const fuzzMs = Date.now() - fuzzStarted;
  await Promise.race([Promise.allSettled(drivers), new Promise((r) => setTimeout(r, 20_000))]);

  let goodReport: GoodClientReport;
  let endStats = server.stats.at(-1) ?? startStats;
  const finalHeads = server.alive
    ? await server.stopPublishing().catch((error: unknown) => {
        findings.add("stall", "server", `final heads: ${String(error)}`);
        return undefined;
      })
    : undefined;
  if (finalHeads !== undefined) {
    goodReport = await good.finish(finalHeads, 30_000);
    await good.close();
    if ((options.settleMs ?? 0) > 0) {
      log(`fuzz: every client left; measuring the server after ${options.settleMs} ms idle`);
      await new Promise((resolve) => setTimeout(resolve, options.settleMs));
    }
    endStats = await server.measure(true).catch(() => endStats);
  } else {
    goodReport = await good.finish(undefined, 1_000);
    await good.close();
  }
  clearInterval(duties);
  ownLag.disable();
  stopOnExit();
  const crash = server.crash;
  await server.stop();
  if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });

  // Reports are 250 ms apart by the server's clock; a longer gap is the event loop blocked.
  if (server.maxReportGapMs > 5_000) {
    findings.add(
      "stall",
      "server",
      `the server's event loop was blocked for ${server.maxReportGapMs} ms`,
    );
  }
  if (crash !== undefined) {
    findings.add(
      "crash",
      "server",
      `exit ${crash.code ?? crash.signal}: ${crash.fatal ?? lastLine(crash.stderr)}`,
    );
  }
  if (!goodReport.served) {
    for (const problem of goodReport.problems) findings.add("good-client", "good", problem);
  }
  for (const error of server.publishErrors) {
    findings.add("publish-error", error.stream, `${error.code}: ${error.message}`);
  }
  const all = [startStats, ...server.stats];
  const counts = Object.fromEntries(
    (
      [
        "leak",
        "internal-error",
        "untyped-error",
        "unanswered",
        "bad-reply",
        "good-client",
        "crash",
        "stall",
        "publish-error",
      ] as const
    ).map((kind) => [kind, findings.count(kind)]),
  ) as Record<FindingKind, number>;
  return {
    seed: options.seed,
    store: options.store,
    settleMs: options.settleMs ?? 0,
    wallMs: Date.now() - started,
    fuzzMs,
    frames: { ...frames, total: totalFrames(frames) },
    crashes: crash === undefined ? 0 : 1,
    ...(crash === undefined
      ? {}
      : {
          crash: {
            code: crash.code,
            signal: crash.signal,
            ...(crash.fatal === undefined ? {} : { fatal: crash.fatal }),
            stderr: crash.stderr.slice(-2_000),
            lastFrames: recent.list(),
          },
        }),
    maxEventLoopLagMs: round(Math.max(...all.map((s) => s.lagMaxMs))),
    maxEventLoopLagP99Ms: round(Math.max(...all.map((s) => s.lagP99Ms))),
    fuzzerMaxLagMs: round(ownLag.max / 1e6),
    rssMb: {
      start: round(startStats.rss / MB),
      peak: round(Math.max(...all.map((s) => s.rss)) / MB),
      end: round(endStats.rss / MB),
    },
    heapUsedMb: {
      start: round(startStats.heapUsed / MB),
      peak: round(Math.max(...all.map((s) => s.heapUsed)) / MB),
      end: round(endStats.heapUsed / MB),
    },
    leaks: findings.count("leak") + server.roomLeaks.length,
    roomLeaks: server.roomLeaks.slice(0, 20),
    ghostRoomMembers: server.maxGhostMembers,
    findings: counts,
    categories: Object.fromEntries(findings.categories),
    outcomes: Object.fromEntries([...findings.outcomes].sort((a, b) => b[1] - a[1])),
    samples: findings.samples,
    good: goodReport,
    socketsAtEnd: endStats.sockets,
  };
}

function totalFrames(frames: FrameCounts): number {
  return frames.socketIo + frames.raw + frames.http + frames.good;
}

/** The telling line of a dead process's stderr: V8's fatal error, else an error, else the last. */
function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return (
    lines.find((line) => line.includes("FATAL ERROR")) ??
    [...lines].reverse().find((line) => /Error|error:/.test(line)) ??
    lines.at(-1) ??
    ""
  ).trim();
}

function describeItem(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_key, v: unknown) => {
      if (ArrayBuffer.isView(v)) {
        const bytes = new Uint8Array(v.buffer, v.byteOffset, Math.min(v.byteLength, 32));
        return `<${v.byteLength}B ${Buffer.from(bytes).toString("hex")}>`;
      }
      if (typeof v === "string" && v.length > 120) return `${v.slice(0, 60)}…(${v.length} chars)`;
      if (Array.isArray(v) && v.length > 30) return [...v.slice(0, 5), `…(${v.length} items)`];
      return v;
    });
    return (text ?? String(value)).slice(0, 1_500);
  } catch (error) {
    return `<unprintable: ${String(error)}>`;
  }
}

/** Harness self-test: one message that makes the server exhaust its heap. */
async function selfTestCrash(ctx: FuzzContext): Promise<void> {
  const { io } = await import("socket.io-client");
  const { encode } = await import("@assured/core");
  const socket = io(ctx.url, {
    transports: ["websocket"],
    forceNew: true,
    auth: { token: "alice" },
  });
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.emit(
    "assured:msg",
    { id: "selftest", seq: 0, name: "selftest:oom", payload: encode(null) },
    () => undefined,
  );
  while (!ctx.stopped()) await new Promise((resolve) => setTimeout(resolve, 50));
  socket.disconnect();
}
