import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrowserTabs } from "./browser-tabs.js";
import type { ChaosHandledRun, ChaosLogLine } from "./chaos-log.js";
import { type ChaosVerdict, check, timeline } from "./checker.js";
import { type ClientStatus, ClientWorkers } from "./client-workers.js";
import { FaultProxy } from "./fault-proxy.js";
import { FaultSchedule } from "./fault-schedule.js";
import { type ChaosProfile, replayCommand, storeRestartModes } from "./profiles.js";
import { Publisher } from "./publisher.js";
import { SeededRandom } from "./seeded-random.js";
import { clientSettled } from "./settle.js";
import { ChaosTopology } from "./topology.js";

/** The outcome of a chaos run. */
export interface ChaosResult {
  seed: number;
  profile: ChaosProfile;
  verdict: ChaosVerdict;
  /** Human-readable summary: figures, faults, and the timeline of each violating client. */
  report: string;
  /** Wall time of the run, ms. */
  elapsedMs: number;
}

/**
 * One chaos run: the topology's nodes behind the fault proxy, client worker processes, a
 * publisher, and the seeded fault schedule for `profile.durationMs`; then the faults stop, the
 * network heals, every node comes back, and the run waits until every client has every event
 * and every message is answered (or `settleTimeoutMs` passes). The checker then compares what
 * the clients saw and what the handlers ran with the store's own logs.
 */
export async function runChaos(
  profile: ChaosProfile,
  seed: number,
  options: { keep?: boolean } = {},
): Promise<ChaosResult> {
  const started = Date.now();
  const clock = () => Date.now() - started;
  const lines: ChaosLogLine[] = [];
  const log = (line: ChaosLogLine) => lines.push(line);
  const random = new SeededRandom(seed);
  const dir = await mkdtemp(join(tmpdir(), "assured-chaos-"));
  const topology = await ChaosTopology.start(profile.topology, profile.nodes, dir, {
    ...(profile.storeModule === undefined ? {} : { storeModule: profile.storeModule }),
    ...(profile.faults.includes("restart-store")
      ? { storeRestarts: { modes: storeRestartModes(profile), streams: profile.streams } }
      : {}),
  });
  let proxy: FaultProxy | undefined;
  let workers: ClientWorkers | undefined;
  let tabs: BrowserTabs | undefined;
  try {
    proxy = await FaultProxy.start({ upstreams: () => topology.ports() });
    workers = await ClientWorkers.start({
      workers: profile.workers,
      clientsPerWorker: profile.clientsPerWorker,
      url: proxy.url,
      streams: profile.streams,
      startedAt: started,
      messagesPerSecond: profile.messagesPerSecond,
      maxMessages: profile.messagesPerClient,
      seed,
      dir,
    });
    if ((profile.tabs ?? 0) > 0) {
      tabs = await BrowserTabs.start({
        tabs: profile.tabs ?? 0,
        url: proxy.url,
        streams: profile.streams,
        startedAt: started,
        messagesPerSecond: profile.messagesPerSecond,
        maxMessages: profile.messagesPerClient,
        seed,
        log,
      });
    }
    const publisher = new Publisher(topology, profile.streams, profile.eventsPerSecond, log, clock);
    const faults = new FaultSchedule(
      { topology, proxy, workers, tabs },
      random,
      profile.faults,
      profile.faultEveryMs,
      log,
      clock,
    );
    const sampler = setInterval(() => void sample(topology, log, clock), 1_000);
    publisher.start();
    faults.start();
    await new Promise((resolve) => setTimeout(resolve, profile.durationMs));
    await publisher.stop();
    await faults.stop();
    clearInterval(sampler);
    const heads = await topology.readLogs(profile.streams);
    // Read once: the publisher has stopped and message handlers append nothing to the streams,
    // so the logs no longer change (a store restart fault has ended too).
    const caughtUp = (c: ClientStatus) => clientSettled(c, profile.messagesPerClient, heads);
    const settled = await workers
      .waitUntil(
        (statuses) =>
          statuses.every((w) => w.clients.every(caughtUp)) &&
          (tabs?.status().every(caughtUp) ?? true),
        profile.settleTimeoutMs,
        "every client caught up and answered",
      )
      .then(
        () => true,
        () => false,
      );
    log({ kind: "fault", t: clock(), fault: settled ? "settled" : "settle-timeout" });
    await workers.stop();
    await tabs?.stop();
    for (const line of await workers.readLines()) lines.push(line);
    const handled: ChaosHandledRun[] = await topology.readHandled();
    const logs = await topology.readLogs(profile.streams);
    const restarts = topology.storeRestarts?.records ?? [];
    // A volatile or snapshot store restart loses data: the checker then judges each outcome.
    const lossPossible = restarts.some((r) => r.mode !== "persistent");
    const record = { lines, handled, logs, lossPossible, runStartedAt: started, restarts };
    const verdict = check(record);
    const report = describe(
      profile,
      seed,
      verdict,
      publisher,
      faults,
      settled,
      (client) => timeline(record, client),
      tabs,
    );
    return { seed, profile, verdict, report, elapsedMs: Date.now() - started };
  } finally {
    await workers?.stop().catch(() => undefined);
    await tabs?.stop().catch(() => undefined);
    await proxy?.close();
    await topology.close();
    if (options.keep) console.log(`chaos: the run's files are kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

async function sample(
  topology: ChaosTopology,
  log: (line: ChaosLogLine) => void,
  clock: () => number,
): Promise<void> {
  for (const node of topology.live()) {
    const stats = await node.stats();
    if (stats) log({ kind: "node-stats", t: clock(), node: node.config.name, ...stats });
  }
}

function describe(
  profile: ChaosProfile,
  seed: number,
  verdict: ChaosVerdict,
  publisher: Publisher,
  faults: FaultSchedule,
  settled: boolean,
  timelineOf: (client: string) => string,
  tabs?: BrowserTabs,
): string {
  const out: string[] = [];
  out.push(
    `CHAOS topology=${profile.topology} nodes=${profile.nodes} clients=${profile.workers}x${profile.clientsPerWorker} tabs=${profile.tabs ?? 0} seed=${seed} settled=${settled}`,
  );
  out.push(`published=${publisher.published} (failed publishes ${publisher.failures})`);
  out.push(`faults: ${[...faults.counts].map(([k, n]) => `${k}=${n}`).join(" ") || "none"}`);
  if (tabs) out.push(tabs.summary());
  out.push(`figures: ${JSON.stringify(verdict.figures)}`);
  out.push(`violations: ${verdict.violations.length}`);
  const clients = new Set<string>();
  for (const v of verdict.violations.slice(0, 50)) {
    out.push(`  ${JSON.stringify(v)}`);
    if (v.client) clients.add(v.client);
  }
  for (const client of [...clients].slice(0, 3)) {
    out.push(`timeline of ${client}:`);
    out.push(timelineOf(client));
  }
  out.push(`replay: ${replayCommand(profile, seed)}`);
  return out.join("\n");
}
