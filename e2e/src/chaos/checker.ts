/**
 * The chaos checker: a pure function over what a run recorded (`chaos-log.ts`) that reports,
 * per direction, every breach of the guarantees (docs/guarantees.md) with the client, stream or
 * message, a one-line explanation and the time, plus the run's figures.
 *
 * Server → client (per client and stream, in the client's own line order):
 * - `lost`: an offset after the client's start in an epoch it was in (up to the store's head in
 *   the final epoch) never delivered, and no `recovered: false` outcome skipped it;
 * - `duplicated`: one (epoch, offset) delivered twice to one client;
 * - `out-of-order`: a delivery after a later offset of its epoch (jumps ahead are holes, reported
 *   as `lost` unless the skipped offsets arrive later, then as `out-of-order`);
 * - `wrong-payload`: data not `{ stream, … }` of the stream, or not what the store holds at that
 *   (epoch, offset) (or, when the store no longer has it, not the `k` published there);
 * - `outcome-without-loss`: a `recovered: false` when the run could not lose data, an `epoch`
 *   outcome when the store's stream had one epoch, `trimmed` while the store still holds the
 *   needed offset, `diverged` while it still holds the client's last event;
 * - `loss-without-outcome`: the client's epoch changed without a `recovered: false`, it ended in
 *   another epoch than the store's, or it kept a record the store replaced, untold.
 * With `record.restarts` (the store restarts and the logs captured around them), `epoch` and
 * `diverged` outcomes must match a volatile or snapshot restart that really lost the client's
 * epoch or last event, and deliveries of a lost history are checked against the captures.
 * Client → server: `message-lost`, `message-duplicated`, `message-out-of-order` (G10, first
 * runs in the shared handled log), `message-mismatch`, `message-unknown`, `promise-missing`,
 * `promise-settled-twice`, `promise-wrong-value`, `promise-rejected`. A rerun explained by a
 * node kill, a lossy store restart or a store kill mid-run is counted (`crashReruns`,
 * `storeLossReruns`, `storeDownReruns`), not reported.
 * Nodes: `node-rss`, `node-lag` against optional thresholds.
 * A `reload` line (a browser tab's new client instance on the same storage) lets each of the
 * client's streams resume from the stored position its next outcome reports (the events after
 * it come again, once: G3), and starts a new G10 order (a new outbox session adopts the old).
 *
 * Linear in the record's size: lines are bucketed per client and stream once, offsets are
 * tracked in byte arrays, messages in maps.
 */
import type { ChaosLogLine } from "./chaos-log.js";
import { StoreHistory, Violations } from "./checker-context.js";
import { type DeliveryContext, StreamTracker } from "./checker-deliveries.js";
import { checkMessages, type MessageLines } from "./checker-messages.js";
import type {
  ChaosFigures,
  ChaosRecord,
  ChaosVerdict,
  CheckOptions,
  NodeFigures,
  Recovery,
} from "./checker-types.js";

export { timeline } from "./checker-timeline.js";
export type * from "./checker-types.js";

const bump = (counts: Record<string, number>, key: string): void => {
  counts[key] = (counts[key] ?? 0) + 1;
};

export function check(record: ChaosRecord, options: CheckOptions = {}): ChaosVerdict {
  const violations = new Violations(options.maxViolationsPerKind ?? 1000);
  const history = new StoreHistory();
  const recoveries: Recovery[] = [];
  const figures: ChaosFigures = {
    clients: 0,
    streams: 0,
    eventsPublished: 0,
    deliveries: 0,
    messages: 0,
    handledRuns: record.handled.length,
    settled: 0,
    settledOk: 0,
    outcomes: {},
    faults: {},
    errors: {},
    connects: 0,
    disconnects: 0,
    nodes: {},
    crashReruns: 0,
    storeLossReruns: 0,
    storeDownReruns: 0,
    storeRestarts: {},
    violations: violations.counts,
  };
  /** Nodes SIGKILLed during the run: a handler running then may run again (not covered by G9). */
  const crashes: { node: string; t: number }[] = [];

  // One pass: figures, the store's history, and each client's stream lines in its own order.
  const streamLines = new Map<string, ChaosLogLine[]>();
  const clients = new Set<string>();
  const streams = new Set<string>(record.logs.keys());
  const messages: MessageLines = { emits: [], settled: [], lives: [] };
  /** Per client: its stream buckets, and its reloads so far (its page life). */
  const bucketsOf = new Map<string, ChaosLogLine[][]>();
  const lifeOf = new Map<string, number>();
  let endT = 0;
  for (const line of record.lines) {
    if (line.t > endT) endT = line.t;
    switch (line.kind) {
      case "published":
        figures.eventsPublished++;
        streams.add(line.stream);
        history.published(line.stream, line.epoch, line.offset, line.k, line.t);
        break;
      case "delivery":
      case "outcome": {
        if (line.kind === "delivery") figures.deliveries++;
        else bump(figures.outcomes, line.recovered ? "recovered" : (line.reason ?? "(none)"));
        // Epochs the server reported as the log's state (not a recovered: false claim).
        if (line.kind === "delivery" || line.recovered) {
          history.sawEpoch(line.stream, line.epoch, line.t);
        }
        clients.add(line.client);
        streams.add(line.stream);
        const key = `${line.client}\u0000${line.stream}`;
        const list = streamLines.get(key);
        if (list) list.push(line);
        else {
          const bucket = [line];
          streamLines.set(key, bucket);
          bucketsOf.set(line.client, [...(bucketsOf.get(line.client) ?? []), bucket]);
        }
        break;
      }
      case "reload":
        // A new client instance: each of its streams resumes from the stored position.
        clients.add(line.client);
        lifeOf.set(line.client, (lifeOf.get(line.client) ?? 0) + 1);
        for (const bucket of bucketsOf.get(line.client) ?? []) bucket.push(line);
        break;
      case "emit":
        figures.messages++;
        clients.add(line.client);
        messages.emits.push(line);
        messages.lives?.push(lifeOf.get(line.client) ?? 0);
        break;
      case "settled":
        figures.settled++;
        if (line.ok) figures.settledOk++;
        clients.add(line.client);
        messages.settled.push(line);
        break;
      case "error":
        clients.add(line.client);
        bump(figures.errors, line.code);
        break;
      case "connection":
        clients.add(line.client);
        if (line.connected) figures.connects++;
        else figures.disconnects++;
        break;
      case "fault":
        bump(figures.faults, line.fault);
        if (line.fault === "kill-node" && line.target !== undefined) {
          crashes.push({ node: line.target, t: line.t });
        }
        break;
      case "node-stats":
        nodeSample(figures.nodes, line);
        break;
    }
  }
  for (const [stream, log] of record.logs) history.sawEpoch(stream, log.epoch);
  for (const restart of record.restarts ?? []) {
    bump(figures.storeRestarts, restart.mode);
    for (const [when, logs] of [
      [restart.t, restart.before],
      [restart.upT, restart.after],
    ] as const) {
      for (const [stream, log] of logs ?? []) history.sawEpoch(stream, log.epoch, when);
    }
  }
  figures.clients = clients.size;
  figures.streams = streams.size;

  const departed = new Set(options.departedClients ?? []);
  const ctx: DeliveryContext = {
    violations,
    history,
    logs: record.logs,
    lossPossible: record.lossPossible,
    allowedOutcomeReasons: new Set(options.allowedOutcomeReasons ?? []),
    departed,
    recoveries,
    ...(record.restarts ? { restarts: record.restarts } : {}),
  };
  for (const lines of streamLines.values()) {
    const first = lines[0] as Extract<ChaosLogLine, { kind: "delivery" | "outcome" }>;
    const tracker = new StreamTracker(first.client, first.stream, ctx);
    for (const line of lines) {
      if (line.kind === "delivery") tracker.delivery(line);
      else if (line.kind === "outcome") tracker.outcome(line);
      else if (line.kind === "reload") tracker.reload();
    }
    tracker.finish();
  }

  const reruns = checkMessages(
    messages,
    record.handled,
    new Set(options.allowedErrorCodes ?? []),
    departed,
    violations,
    endT,
    record.runStartedAt === undefined ? [] : crashes,
    record.runStartedAt ?? 0,
    record.runStartedAt === undefined ? [] : (record.restarts ?? []),
  );
  figures.crashReruns = reruns.crashReruns;
  figures.storeLossReruns = reruns.storeLossReruns;
  figures.storeDownReruns = reruns.storeDownReruns;

  for (const [node, f] of Object.entries(figures.nodes)) {
    if (options.maxRssBytes !== undefined && f.maxRssBytes > options.maxRssBytes) {
      violations.add({
        kind: "node-rss",
        direction: "node",
        node,
        t: f.maxRssAt,
        explanation: `RSS reached ${mb(f.maxRssBytes)} (limit ${mb(options.maxRssBytes)})`,
      });
    }
    if (
      options.maxEventLoopLagMs !== undefined &&
      f.maxEventLoopLagMs > options.maxEventLoopLagMs
    ) {
      violations.add({
        kind: "node-lag",
        direction: "node",
        node,
        t: f.maxLagAt,
        explanation: `event-loop lag reached ${f.maxEventLoopLagMs} ms (limit ${options.maxEventLoopLagMs} ms)`,
      });
    }
  }

  const list = violations.list.slice().sort((a, b) => a.t - b.t);
  return { ok: violations.total === 0, violations: list, recoveries, figures };
}

function nodeSample(
  nodes: Record<string, NodeFigures>,
  line: Extract<ChaosLogLine, { kind: "node-stats" }>,
): void {
  const f = nodes[line.node];
  if (!f) {
    nodes[line.node] = {
      samples: 1,
      firstAt: line.t,
      firstRssBytes: line.rssBytes,
      lastAt: line.t,
      lastRssBytes: line.rssBytes,
      maxRssBytes: line.rssBytes,
      maxRssAt: line.t,
      maxEventLoopLagMs: line.eventLoopLagMs,
      maxLagAt: line.t,
    };
    return;
  }
  f.samples++;
  if (line.t < f.firstAt) {
    f.firstAt = line.t;
    f.firstRssBytes = line.rssBytes;
  }
  if (line.t >= f.lastAt) {
    f.lastAt = line.t;
    f.lastRssBytes = line.rssBytes;
  }
  if (line.rssBytes > f.maxRssBytes) {
    f.maxRssBytes = line.rssBytes;
    f.maxRssAt = line.t;
  }
  if (line.eventLoopLagMs > f.maxEventLoopLagMs) {
    f.maxEventLoopLagMs = line.eventLoopLagMs;
    f.maxLagAt = line.t;
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MB`;
}
