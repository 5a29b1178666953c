// Live delivery: events per second delivered to every client, and publish→handler latency.
import { type BenchEvent, benchEvent } from "./bench-event.js";
import { countdown, nextTurn, settleWithin } from "./countdown.js";
import type { LiveRig, LiveSystem } from "./live-rigs.js";
import { reasonOf } from "./reason.js";
import { median, percentile } from "./stats.js";

/** The fixed work of one live measurement. */
export interface LiveWork {
  clients: number;
  /** Events published per measured round (each delivered to every client). */
  events: number;
  /** Events published per turn of the event loop. */
  burst: number;
  /** Measured rounds (the median is reported), after one warm-up round of `events / 5`. */
  rounds: number;
  /** Events published one at a time, each awaited at every client, for latency. */
  latencySamples: number;
}

/** Throughput and latency of one system. */
export interface LiveResult {
  system: string;
  label: string;
  clients: number;
  /** Median over the rounds of (events × clients) ÷ seconds from first publish to last delivery. */
  deliveriesPerSecond: number;
  /** Every round's rate, for the JSON. */
  roundRates: number[];
  /** Null when the workload measured no latency (or it failed: `latencyError`). */
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  latencyError?: string;
}

/** A live result, or why the system could not be measured. */
export type LiveOutcome =
  | LiveResult
  | { system: string; label: string; clients: number; error: string };

/** Publishes not yet confirmed before the publisher waits for the oldest (backpressure). */
const MAX_UNCONFIRMED = 5_000;
const TIMEOUT_MS = 60_000;
/** How long closing a rig may take (a stuck store must not hang the run). */
const CLOSE_TIMEOUT_MS = 10_000;

/** An open rig and the switchable sink its deliveries go to. */
interface OpenRig {
  system: LiveSystem;
  rig: LiveRig;
  setSink(sink: (event: BenchEvent) => void): void;
}

/**
 * Opens every system with `work.clients` clients, warms each up, then measures the rounds
 * interleaved (system A, B, C, A, B, C …) so that background load hits every system alike, then
 * latency. Systems that fail to open or to deliver are reported with their error.
 */
export async function runLive(
  systems: readonly LiveSystem[],
  work: LiveWork,
  log: (line: string) => void,
): Promise<LiveOutcome[]> {
  const rigs: OpenRig[] = [];
  const failures = new Map<string, string>();
  for (const system of systems) {
    let sink: (event: BenchEvent) => void = () => {};
    try {
      const rig = await system.open(work.clients, (event) => sink(event));
      rigs.push({ system, rig, setSink: (s) => (sink = s) });
    } catch (error) {
      failures.set(system.key, reasonOf(error));
    }
  }
  const rates = new Map<string, number[]>();
  const latencies = new Map<string, number[]>();
  const latencyErrors = new Map<string, string>();
  const attempt = async (open: OpenRig, run: () => Promise<void>) => {
    if (failures.has(open.system.key)) return;
    try {
      await run();
    } catch (error) {
      failures.set(open.system.key, reasonOf(error));
      log(`  ${open.system.label}: ${reasonOf(error)}`);
    }
  };
  try {
    for (const open of rigs) {
      await attempt(open, async () => {
        await deliver(open, work, Math.max(work.burst, Math.floor(work.events / 5)));
      });
    }
    for (let round = 0; round < work.rounds; round++) {
      for (const open of rigs) {
        await attempt(open, async () => {
          const rate = await deliver(open, work, work.events);
          rates.set(open.system.key, [...(rates.get(open.system.key) ?? []), rate]);
          log(
            `  ${open.system.label}, ${work.clients} client(s), round ${round + 1}: ${Math.round(rate)} deliveries/s`,
          );
        });
      }
    }
    for (const open of rigs) {
      if (work.latencySamples === 0 || failures.has(open.system.key)) continue;
      try {
        latencies.set(open.system.key, await latency(open, work));
      } catch (error) {
        latencyErrors.set(open.system.key, reasonOf(error));
        log(`  ${open.system.label}: ${reasonOf(error)}`);
      }
    }
  } finally {
    for (const open of rigs) await settleWithin(open.rig.close(), CLOSE_TIMEOUT_MS);
  }
  return systems.map((system) => {
    const error = failures.get(system.key);
    if (error !== undefined) {
      return { system: system.key, label: system.label, clients: work.clients, error };
    }
    const roundRates = rates.get(system.key)!;
    const samples = latencies.get(system.key) ?? [];
    return {
      system: system.key,
      label: system.label,
      clients: work.clients,
      deliveriesPerSecond: median(roundRates),
      roundRates,
      latencyP50Ms: samples.length > 0 ? percentile(samples, 50) : null,
      latencyP99Ms: samples.length > 0 ? percentile(samples, 99) : null,
      ...(latencyErrors.has(system.key) ? { latencyError: latencyErrors.get(system.key)! } : {}),
    };
  });
}

/**
 * Publishes `events` events, `burst` per turn of the event loop, and resolves with the rate of
 * deliveries (events × clients per second) once every client has every event. Confirmations
 * (Assured's stored-and-emitted promises) are not awaited one by one — as an application that
 * publishes as things happen — but at most `MAX_UNCONFIRMED` may be outstanding.
 */
async function deliver(open: OpenRig, work: LiveWork, events: number): Promise<number> {
  const delivered = countdown(events * work.clients, TIMEOUT_MS, "live delivery");
  open.setSink(() => delivered.tick());
  const confirmations: { done: Promise<unknown>; size: number }[] = [];
  let unconfirmed = 0;
  let confirmed = 0;
  const start = performance.now();
  for (let seq = 0; seq < events; seq += work.burst) {
    const group: Promise<unknown>[] = [];
    for (let i = seq; i < Math.min(events, seq + work.burst); i++) {
      const confirmation = open.rig.publish(benchEvent(i));
      if (confirmation) group.push(confirmation);
    }
    if (group.length > 0) {
      const done = Promise.all(group).then(() => {
        confirmed += group.length;
      });
      confirmations.push({ done, size: group.length });
      unconfirmed += group.length;
      while (unconfirmed >= MAX_UNCONFIRMED) {
        const oldest = confirmations.shift()!;
        await oldest.done;
        unconfirmed -= oldest.size;
      }
    }
    await nextTurn();
  }
  try {
    await Promise.all([delivered.done, ...confirmations.map((c) => c.done)]);
  } catch (error) {
    const publishes =
      confirmations.length > 0 ? ` (${confirmed} of ${events} publishes confirmed)` : "";
    throw new Error(`${reasonOf(error)}${publishes}`);
  }
  const seconds = (performance.now() - start) / 1000;
  open.setSink(() => {});
  return (events * work.clients) / seconds;
}

/** Publishes events one at a time; each sample is publish → one client's handler, in ms. */
async function latency(open: OpenRig, work: LiveWork): Promise<number[]> {
  const samples: number[] = [];
  for (let seq = 0; seq < work.latencySamples; seq++) {
    const arrived = countdown(work.clients, TIMEOUT_MS, "latency");
    open.setSink((event) => {
      samples.push(performance.now() - event.at);
      arrived.tick();
    });
    await Promise.all([open.rig.publish(benchEvent(seq)), arrived.done]);
  }
  open.setSink(() => {});
  return samples;
}
