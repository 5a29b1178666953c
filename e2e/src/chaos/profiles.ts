import type { StoreRestartMode } from "./store-restarts.js";

/**
 * Where the nodes keep their data: `custom` is a store of your own, from the module in
 * `ChaosProfile.storeModule` (see `store-module.ts`).
 */
export type Topology = "redis" | "redis-cluster" | "postgres" | "sqlite" | "mongodb" | "custom";

/** Topologies on more than one node (the others run one). */
const MULTI_NODE: readonly Topology[] = ["redis", "redis-cluster", "postgres"];

/** Every fault a run may inject (`reload-tab` and `offline-tab` act on Chromium tabs). */
export const FAULT_KINDS = [
  "cut",
  "stall",
  "latency",
  "bandwidth",
  "half-open",
  "kill-node",
  "busy-client",
  "restart-store",
  "clock-jump",
  "reload-tab",
  "offline-tab",
] as const;

/** The faults a run may inject. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The size and mix of a chaos run. */
export interface ChaosProfile {
  topology: Topology;
  /** For topology `custom`: the absolute path of the module that exports `chaos`. */
  storeModule?: string;
  /** Node processes (only Redis, Redis Cluster and PostgreSQL run more than one). */
  nodes: number;
  /** Client worker processes, and clients in each. */
  workers: number;
  clientsPerWorker: number;
  /** Chromium tabs (`browser-tabs.ts`), clients `t0`, `t1`…, alongside the workers (default 0). */
  tabs?: number;
  streams: string[];
  /** How long faults are injected and load runs, in ms (then the run heals and settles). */
  durationMs: number;
  /** Events published per second across all streams. */
  eventsPerSecond: number;
  /** Messages per client, and the rate each client sends them at. */
  messagesPerClient: number;
  messagesPerSecond: number;
  /** Mean time between faults, in ms. */
  faultEveryMs: number;
  faults: FaultKind[];
  /**
   * How `restart-store` brings the store back, one mode drawn per injection among those the
   * store supports (default `storeRestartModes(profile)`): see `store-restarts.ts`.
   */
  restartModes?: StoreRestartMode[];
  /** How long the run may take to settle after the faults stop. */
  settleTimeoutMs: number;
}

const STREAMS = ["chaos:a", "chaos:b", "chaos:c"];

/** The network, node and client faults every topology takes (profiles add the others). */
export const NODE_FAULTS: readonly FaultKind[] = [
  "cut",
  "stall",
  "latency",
  "bandwidth",
  "half-open",
  "kill-node",
  "busy-client",
];

/**
 * Topologies whose store restarts in the default profiles (Redis: persistent, volatile and
 * snapshot; Mongo-wire and PostgreSQL: persistent; SQLite: snapshot). Redis Cluster and custom
 * stores do not restart.
 */
const STORE_RESTARTS: readonly Topology[] = ["redis", "mongodb", "postgres", "sqlite"];

/** `faults`, plus `restart-store` where the topology's store restarts by default. */
function withStoreRestarts(topology: Topology, faults: FaultKind[]): FaultKind[] {
  const base = faults.filter((f) => f !== "restart-store");
  return STORE_RESTARTS.includes(topology) ? [...base, "restart-store"] : base;
}

/** Chromium tabs (`browser-tabs.ts`) next to the workers, with the faults that act on them. */
function withTabs(profile: ChaosProfile, tabs: number): ChaosProfile {
  return { ...profile, tabs, faults: [...profile.faults, "reload-tab", "offline-tab"] };
}

/** The profile the test command runs: about a minute and a half per topology. */
export function shortProfile(topology: Topology): ChaosProfile {
  // The Mongo-wire server here (FerretDB on SQLite) handles a few dozen dedup claims a second.
  if (topology === "mongodb") {
    return {
      ...shortProfile("sqlite"),
      topology,
      clientsPerWorker: 4,
      eventsPerSecond: 100,
      messagesPerClient: 30,
      messagesPerSecond: 1,
      faults: withStoreRestarts(topology, shortProfile("sqlite").faults),
    };
  }
  const profile: ChaosProfile = {
    topology,
    nodes: MULTI_NODE.includes(topology) ? 2 : 1,
    workers: 2,
    clientsPerWorker: MULTI_NODE.includes(topology) ? 10 : 6,
    streams: STREAMS,
    durationMs: 30_000,
    eventsPerSecond: 300,
    messagesPerClient: 60,
    messagesPerSecond: 3,
    faultEveryMs: 1_500,
    faults: withStoreRestarts(topology, [...NODE_FAULTS, "clock-jump"]),
    settleTimeoutMs: 60_000,
  };
  return topology === "redis" ? withTabs(profile, 2) : profile;
}

/**
 * The long profile (`pnpm chaos --long`): ≥ 15 minutes, ≥ 50 clients, ≥ 100k events, ≥ 20k
 * messages, and 4 Chromium tabs.
 */
export function longProfile(topology: Topology): ChaosProfile {
  return withTabs(profileOfLongRun(topology), 4);
}

function profileOfLongRun(topology: Topology): ChaosProfile {
  return {
    topology,
    nodes: MULTI_NODE.includes(topology) ? 3 : 1,
    workers: 5,
    clientsPerWorker: 10,
    streams: [...STREAMS, "chaos:d", "chaos:e"],
    durationMs: 15 * 60_000,
    eventsPerSecond: 150,
    messagesPerClient: 450,
    messagesPerSecond: 0.5,
    faultEveryMs: 3_000,
    faults: withStoreRestarts(topology, [...NODE_FAULTS, "clock-jump"]),
    settleTimeoutMs: 180_000,
  };
}

/**
 * The profile run for `durationMs` of faults instead of its own (`--seconds`). Clients emit at
 * the profile's rate until their quota, so a shorter run asks for fewer messages (its clients
 * can reach the quota and the run settle). A run and its replay command (`replayCommand`) both
 * come from here, so the replay is the same run.
 */
export function withDuration(profile: ChaosProfile, durationMs: number): ChaosProfile {
  const ratio = durationMs / profile.durationMs;
  const messagesPerClient = Math.max(1, Math.round(profile.messagesPerClient * ratio));
  return { ...profile, durationMs, messagesPerClient };
}

/** The command that replays a run of `profile` under `seed`. */
export function replayCommand(profile: ChaosProfile, seed: number): string {
  const where =
    profile.topology === "custom"
      ? `--store ${profile.storeModule ?? "<module>"}`
      : `--topology ${profile.topology}`;
  const long = longProfile(profile.topology);
  const isLong = profile.workers === long.workers && profile.streams.length === long.streams.length;
  const base = isLong ? long : shortProfile(profile.topology);
  const flags = [where, `--seed ${seed}`];
  if (isLong) flags.unshift("--long");
  if (profile.durationMs !== base.durationMs) flags.push(`--seconds ${profile.durationMs / 1_000}`);
  if (profile.faults.join(",") !== base.faults.join(","))
    flags.push(`--faults ${profile.faults.join(",")}`);
  if ((profile.tabs ?? 0) !== (base.tabs ?? 0)) flags.push(`--tabs ${profile.tabs ?? 0}`);
  if (profile.restartModes !== undefined && profile.restartModes !== base.restartModes)
    flags.push(`--restart-modes ${profile.restartModes.join(",")}`);
  return `pnpm chaos ${flags.join(" ")}`;
}

/**
 * The `restart-store` modes of a profile: its own, else every mode (each store injects those
 * it supports: Redis all three, FerretDB and PostgreSQL `persistent`, a SQLite file `snapshot`).
 */
export function storeRestartModes(profile: ChaosProfile): StoreRestartMode[] {
  return profile.restartModes ?? ["persistent", "volatile", "snapshot"];
}
