import type { AssuredErrorData } from "@assured/core";
import type { DedupStore, EventStore } from "@assured/core/store";
import createDebug from "debug";
import type { Namespace } from "socket.io";
import { WriteWatchdog } from "./backlog-guard.js";
import { ServerBudget } from "./byte-budget.js";
import {
  createFailureReporter,
  failureKind,
  type OnServerFailure,
  type ServerFailure,
} from "./failure-reports.js";
import type { AssuredLimits } from "./limits.js";
import { ServerMetrics } from "./metrics.js";
import type { AssuredServerOptions, StreamAction } from "./options.js";
import { RateLimiter } from "./rate-limit.js";
import { ReadPacer } from "./read-pacer.js";
import { SharedReads } from "./shared-reads.js";
import { stateOf } from "./socket-state.js";
import { type AnySocket, toErrorData } from "./wire.js";

const log = createDebug("assured:server");

/** What every part of the server shares: the namespace, the stores, the limits and the hooks. */
export interface ServerContext {
  nsp: Namespace;
  store: EventStore;
  dedupStore: DedupStore;
  limits: AssuredLimits;
  /** Replay pages and fetch replies in flight on this server (`maxReplayBytesInFlight`). */
  replayBudget: ServerBudget;
  /**
   * Closes connections that hold replay/fetch bytes unwritten past `writeTimeoutMs` (a peer
   * that stopped reading must not pin `maxReplayBytesInFlight`).
   */
  writes: WriteWatchdog;
  /**
   * Page reads, spread over turns of the event loop by a `ReadPacer` (a storm of fetches must
   * not stall it); identical catch-up pages waiting for a turn share one read.
   */
  reads: SharedReads;
  /** Token buckets of the rate limit (`tokensPerSecond`, `burstTokens`), shared per principal. */
  rate: RateLimiter;
  /** The server's figures (`stats()`, OpenTelemetry). */
  metrics: ServerMetrics;
  /** The `authorize` hook; a throwing hook counts as a refusal. */
  allowed(socket: AnySocket, stream: string, action: StreamAction): Promise<boolean>;
  /** The `identify` hook, if any (may throw; the caller reports it). */
  identify: ((socket: AnySocket) => string | Promise<string>) | undefined;
  /** Reports a failure to `onError` (or the default printer). */
  report(failure: ServerFailure<AnySocket>): void;
  /**
   * The wire error for what is about to be answered to a client, reporting it first when it is a
   * failure (a store failure, a refused frame, an unexpected error; see `failureKind`).
   */
  answer(error: unknown, where: FailureSite): AssuredErrorData;
}

/** Where a failure answered to a client happened. */
export type FailureSite = Omit<ServerFailure<AnySocket>, "kind" | "error">;

/** Builds the shared context from validated options. */
export function createContext(
  nsp: Namespace,
  options: AssuredServerOptions<AnySocket>,
  limits: AssuredLimits,
): ServerContext {
  const { authorize } = options;
  const metrics = new ServerMetrics(options.meter, {
    sockets: () => nsp.sockets.size,
    subscriptions: () => {
      let count = 0;
      for (const socket of nsp.sockets.values())
        count += stateOf(socket, limits).subscriptions.size;
      return count;
    },
  });
  const reportFailure = createFailureReporter(options.onError as OnServerFailure | undefined);
  const report = (failure: ServerFailure<AnySocket>) => {
    metrics.failed(failure.kind, failure.operation ?? "unknown");
    reportFailure(failure);
  };
  return {
    report,
    metrics,
    answer(error, where) {
      const kind = failureKind(error);
      if (kind !== undefined) report({ kind, error, ...where });
      return toErrorData(error);
    },
    nsp,
    store: options.store,
    dedupStore: options.dedupStore,
    limits,
    replayBudget: new ServerBudget(limits.maxReplayBytesInFlight),
    writes: new WriteWatchdog(limits.writeTimeoutMs),
    reads: new SharedReads(new ReadPacer()),
    rate: new RateLimiter(limits),
    identify: options.identify,
    async allowed(socket, stream, action) {
      if (authorize === undefined) return true;
      try {
        return (await authorize(socket, stream, action)) === true;
      } catch (error) {
        log("authorize threw for %s %o on socket %s: %o", action, stream, socket.id, error);
        report({ kind: "hook", error, operation: "authorize", socket, stream });
        return false;
      }
    },
  };
}
