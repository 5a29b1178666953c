/**
 * Client → server: every emitted message ran exactly once (G9), a client's messages were first
 * handled in send order (G10), and every promise settled once with its handler's answer.
 */
import type { ChaosHandledRun, ChaosLogLine } from "./chaos-log.js";
import type { Violations } from "./checker-context.js";
import { brief, deepEqual, isRecord } from "./checker-equal.js";
import type { ChaosStoreRestart, ClientToServerViolation } from "./checker-types.js";

type Emit = Extract<ChaosLogLine, { kind: "emit" }>;
type Settled = Extract<ChaosLogLine, { kind: "settled" }>;

/** Messages are keyed by (client, id): ids need only be unique per client. */
const keyOf = (client: string, id: string): string => `${client}\u0000${id}`;

/**
 * How long before a store kill a handler run counts as in flight (its answer not yet stored):
 * the chaos nodes' `leaseMs`. A run older than that whose answer was still unstored could be
 * taken over by then anyway, so a rerun of it is not the kill's doing.
 */
const IN_FLIGHT_MS = 5_000;

export interface MessageLines {
  emits: Emit[];
  settled: Settled[];
  /**
   * Per emit (same index): the sending client's page life, its reloads before the emit. A
   * reload starts a new outbox session, which adopts the earlier one's messages: G10 orders a
   * client's messages within one page life. Without it, all are life 0.
   */
  lives?: number[];
}

export function checkMessages(
  lines: MessageLines,
  handled: readonly ChaosHandledRun[],
  allowedErrorCodes: ReadonlySet<string>,
  departed: ReadonlySet<string>,
  violations: Violations,
  endT: number,
  crashes: readonly { node: string; t: number }[] = [],
  runStartedAt = 0,
  storeRestarts: readonly Pick<ChaosStoreRestart, "mode" | "t" | "upT">[] = [],
): { crashReruns: number; storeLossReruns: number; storeDownReruns: number } {
  let crashReruns = 0;
  let storeLossReruns = 0;
  let storeDownReruns = 0;
  /** True when the node of `before` was killed between it and `after` (by the run's clock). */
  const crashedBetween = (before: ChaosHandledRun, after: ChaosHandledRun): boolean =>
    crashes.some(
      (c) =>
        c.node === before.node && c.t >= before.at - runStartedAt && c.t <= after.at - runStartedAt,
    );
  /**
   * True when a volatile or snapshot store restart overlaps the span from `before` to `after`:
   * `before` started by the time the store was back, `after` once it had been killed, so the
   * dedup entry of `before` may have been lost with the store's data.
   */
  const storeLostBetween = (before: ChaosHandledRun, after: ChaosHandledRun): boolean =>
    storeRestarts.some(
      (r) =>
        r.mode !== "persistent" &&
        before.at - runStartedAt <= r.upT &&
        after.at - runStartedAt >= r.t,
    );
  /**
   * True when the store was killed (any mode) while `before` was in flight: it started at most
   * `IN_FLIGHT_MS` before the kill, or while the store was down (its claim was granted before
   * the kill; the handler's recorded start lags the claim by the node's event-loop delay),
   * `after` after the kill. Its answer could not be stored (`DedupOutcome.stored: false`), so
   * its claim ran out and the retry ran it again.
   */
  const storeDiedDuring = (before: ChaosHandledRun, after: ChaosHandledRun): boolean =>
    storeRestarts.some((r) => {
      const started = before.at - runStartedAt;
      return started <= r.upT && started >= r.t - IN_FLIGHT_MS && after.at - runStartedAt >= r.t;
    });
  const add = (
    kind: ClientToServerViolation,
    client: string,
    id: string,
    t: number,
    explanation: string,
  ): void => {
    violations.add({ kind, direction: "client-to-server", client, id, explanation, t });
  };

  const emits = new Map<string, Emit>();
  const lifeOf = new Map<string, number>();
  for (const [i, e] of lines.emits.entries()) {
    const key = keyOf(e.client, e.id);
    if (emits.has(key)) continue;
    emits.set(key, e);
    lifeOf.set(key, lines.lives?.[i] ?? 0);
  }
  const settles = new Map<string, Settled[]>();
  for (const s of lines.settled) {
    const key = keyOf(s.client, s.id);
    const list = settles.get(key);
    if (list) list.push(s);
    else settles.set(key, [s]);
  }

  // Runs by message, and G10: first runs per client and page life in ascending n (log order).
  const runs = new Map<string, ChaosHandledRun[]>();
  const highest = new Map<string, ChaosHandledRun>();
  for (const run of handled) {
    const key = keyOf(run.client, run.id);
    const list = runs.get(key);
    if (list) {
      list.push(run);
      continue;
    }
    runs.set(key, [run]);
    const sender = keyOf(run.client, String(lifeOf.get(key) ?? 0));
    const top = highest.get(sender);
    if (top === undefined || run.n > top.n) {
      highest.set(sender, run);
    } else if (run.n < top.n) {
      add(
        "message-out-of-order",
        run.client,
        run.id,
        emits.get(key)?.t ?? endT,
        `n=${run.n} first handled (on ${run.node}) after n=${top.n} (${top.id}, on ${top.node})`,
      );
    }
  }

  for (const [key, emit] of emits) {
    const { client, id, n } = emit;
    const ran = runs.get(key) ?? [];
    const settled = settles.get(key) ?? [];
    const first = settled[0];
    const failed = settled.find((s) => !s.ok);
    // A departed client's message still pending when it left may never have been sent.
    if (first === undefined && ran.length === 0 && departed.has(client)) continue;
    if (ran.length === 0) {
      if (failed === undefined) {
        add("message-lost", client, id, emit.t, `n=${n} was emitted and its handler never ran`);
      }
    } else if (
      ran.length > 1 &&
      ran.every((run, i) => i === 0 || crashedBetween(ran[i - 1]!, run))
    ) {
      crashReruns++;
    } else if (
      ran.length > 1 &&
      ran.every(
        (run, i) =>
          i === 0 || crashedBetween(ran[i - 1]!, run) || storeLostBetween(ran[i - 1]!, run),
      )
    ) {
      storeLossReruns++;
    } else if (
      ran.length > 1 &&
      ran.every(
        (run, i) =>
          i === 0 ||
          crashedBetween(ran[i - 1]!, run) ||
          storeLostBetween(ran[i - 1]!, run) ||
          storeDiedDuring(ran[i - 1]!, run),
      )
    ) {
      storeDownReruns++;
    } else if (ran.length > 1) {
      add(
        "message-duplicated",
        client,
        id,
        emit.t,
        `n=${n} ran ${ran.length} times (on ${ran.map((r) => r.node).join(", ")})`,
      );
    }
    for (const run of ran) {
      if (run.n !== n) {
        add(
          "message-mismatch",
          client,
          id,
          emit.t,
          `emitted as n=${n}, handled (on ${run.node}) as n=${run.n}`,
        );
        break;
      }
    }
    if (first === undefined) {
      if (departed.has(client)) continue;
      add("promise-missing", client, id, emit.t, `n=${n}: the emit promise never settled`);
      continue;
    }
    if (settled.length > 1) {
      add(
        "promise-settled-twice",
        client,
        id,
        settled[1]!.t,
        `n=${n}: the emit promise settled ${settled.length} times`,
      );
    }
    if (!first.ok) {
      if (!allowedErrorCodes.has(first.code ?? "")) {
        add(
          "promise-rejected",
          client,
          id,
          first.t,
          `n=${n}: the emit promise failed with ${first.code ?? "no code"} (ran ${ran.length} times)`,
        );
      }
      continue;
    }
    const value = first.value;
    const wrong =
      ran.length === 1
        ? !deepEqual(value, { node: ran[0]!.node, client, n })
        : !isRecord(value) ||
          value.client !== client ||
          value.n !== n ||
          (ran.length > 1 && !ran.some((r) => r.node === value.node));
    if (wrong) {
      const expected = ran.length === 1 ? brief({ node: ran[0]!.node, client, n }) : `{client, n}`;
      add(
        "promise-wrong-value",
        client,
        id,
        first.t,
        `n=${n}: resolved with ${brief(value, 80)}, expected ${expected}`,
      );
    }
  }

  // Runs and promises of messages no emit line has.
  const unknown = new Map<string, { client: string; id: string; what: string; t: number }>();
  for (const [key, ran] of runs) {
    if (!emits.has(key)) {
      const run = ran[0]!;
      unknown.set(key, {
        client: run.client,
        id: run.id,
        what: `handled (n=${run.n}, on ${run.node})`,
        t: endT,
      });
    }
  }
  for (const [key, settled] of settles) {
    if (!emits.has(key) && !unknown.has(key)) {
      const s = settled[0]!;
      unknown.set(key, { client: s.client, id: s.id, what: `settled (n=${s.n})`, t: s.t });
    }
  }
  for (const u of unknown.values()) {
    add("message-unknown", u.client, u.id, u.t, `${u.what}, but no emit line has this id`);
  }
  return { crashReruns, storeLossReruns, storeDownReruns };
}
