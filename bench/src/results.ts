import type { LiveOutcome } from "./live.js";
import type { RetainedMemoryResult } from "./retained-memory.js";
import type { RoundsResult } from "./rounds.js";
import type { StoreWriteResult } from "./store-writes.js";
import type { StormResult } from "./storm.js";

/** A live workload and what every system measured on it. */
export interface LiveSection {
  title: string;
  clients: number;
  events: number;
  burst: number;
  rounds: number;
  latencySamples: number;
  results: LiveOutcome[];
}

/** A target of the project, checked against this run. */
export interface TargetCheck {
  target: string;
  /** The measured value (a ratio unless `unit` says otherwise), or null when not measured. */
  measured: number | null;
  goal: number;
  /** "atLeast": met when measured ≥ goal; "atMost": met when measured ≤ goal (default atLeast). */
  direction?: "atLeast" | "atMost";
  /** The unit of `measured` and `goal` (default "×", a ratio). */
  unit?: "×" | "s" | "MB" | "ms" | "B";
  met: boolean;
  note: string;
}

/** Everything one `pnpm bench` run measured: what `results/latest.json` holds. */
export interface BenchResults {
  generatedAt: string;
  durationSeconds: number;
  environment: {
    node: string;
    platform: string;
    cpus: number;
    cpuModel: string;
    loadAverage: number[];
  };
  stores: { kind: string; available: boolean; setup?: string; reason?: string }[];
  live: LiveSection[];
  catchUp: { missed: number; rounds: number; storeRounds: number; results: RoundsResult[] };
  clientToServer: {
    messages: number;
    storeMessages: number;
    inFlight: number;
    rounds: number;
    results: RoundsResult[];
    /** The same without stores, through a proxy that adds a network round trip. */
    delayed: { roundTripMs: number; messages: number; rounds: number; results: RoundsResult[] };
  };
  /** `eventStore.append` against the same database's bare driver. */
  storeWrites: { rounds: number; results: StoreWriteResult[] };
  /** Reconnect storms (absent in results written before they were measured). */
  storm?: { rounds: number; results: StormResult[] };
  /** Memory per retained event (absent in results written before it was measured). */
  retainedMemory?: { results: RetainedMemoryResult[] };
  targets: TargetCheck[];
}
