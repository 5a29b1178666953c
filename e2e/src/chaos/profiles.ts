/** Where the nodes keep their data. */
export type Topology = "redis" | "sqlite" | "mongodb";

/** The faults a run may inject. */
export type FaultKind =
  | "cut"
  | "stall"
  | "latency"
  | "bandwidth"
  | "half-open"
  | "kill-node"
  | "busy-client"
  | "restart-store";

/** The size and mix of a chaos run. */
export interface ChaosProfile {
  topology: Topology;
  /** Node processes (only Redis runs more than one). */
  nodes: number;
  /** Client worker processes, and clients in each. */
  workers: number;
  clientsPerWorker: number;
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
  /** How long the run may take to settle after the faults stop. */
  settleTimeoutMs: number;
}

const STREAMS = ["chaos:a", "chaos:b", "chaos:c"];

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
    };
  }
  return {
    topology,
    nodes: topology === "redis" ? 2 : 1,
    workers: 2,
    clientsPerWorker: topology === "redis" ? 10 : 6,
    streams: STREAMS,
    durationMs: 30_000,
    eventsPerSecond: 300,
    messagesPerClient: 60,
    messagesPerSecond: 3,
    faultEveryMs: 1_500,
    faults: ["cut", "stall", "latency", "bandwidth", "half-open", "kill-node", "busy-client"],
    settleTimeoutMs: 60_000,
  };
}

/** The long profile (`pnpm chaos --long`): ≥ 15 minutes, ≥ 50 clients, ≥ 100k events, ≥ 20k messages. */
export function longProfile(topology: Topology): ChaosProfile {
  return {
    topology,
    nodes: topology === "redis" ? 3 : 1,
    workers: 5,
    clientsPerWorker: 10,
    streams: [...STREAMS, "chaos:d", "chaos:e"],
    durationMs: 15 * 60_000,
    eventsPerSecond: 150,
    messagesPerClient: 450,
    messagesPerSecond: 0.5,
    faultEveryMs: 3_000,
    faults: ["cut", "stall", "latency", "bandwidth", "half-open", "kill-node", "busy-client"],
    settleTimeoutMs: 180_000,
  };
}
