/**
 * The failure report's timeline: one client's lines (in its own order) interleaved by time with
 * the run's faults and the client's handler runs, one per line.
 */
import type { ChaosHandledRun, ChaosLogLine } from "./chaos-log.js";
import { brief } from "./checker-equal.js";
import type { ChaosRecord } from "./checker-types.js";

interface Entry {
  t: number;
  text: string;
  /** For folding runs of consecutive deliveries. */
  delivery?: { stream: string; epoch: string; offset: number };
}

const CLIENT_KINDS = new Set([
  "delivery",
  "outcome",
  "connection",
  "emit",
  "settled",
  "error",
  "reload",
]);

function stamp(t: number): string {
  return `${t.toFixed(1).padStart(10)}ms`;
}

function describe(line: ChaosLogLine): string {
  switch (line.kind) {
    case "delivery":
      return `delivery  ${line.stream} ${line.epoch}#${line.offset} ${brief(line.data, 80)}`;
    case "outcome":
      return line.recovered
        ? `outcome   ${line.stream} recovered at ${line.epoch}#${line.offset}`
        : `outcome   ${line.stream} NOT recovered (${line.reason ?? "no reason"}) → ${line.epoch}#${line.offset}`;
    case "connection":
      return line.connected ? "connected" : `disconnected${line.reason ? ` (${line.reason})` : ""}`;
    case "emit":
      return `emit      ${line.id} n=${line.n}`;
    case "settled":
      return line.ok
        ? `settled   ${line.id} n=${line.n} ok ${brief(line.value, 80)}`
        : `settled   ${line.id} n=${line.n} FAILED ${line.code ?? "(no code)"}`;
    case "error":
      return `error     ${line.code} ${line.message}`;
    case "reload":
      return "RELOADED  (a new client instance on the stored positions and outbox)";
    case "fault":
      return `FAULT     ${line.fault}${line.target ? ` ${line.target}` : ""}${
        line.detail === undefined ? "" : ` ${brief(line.detail, 80)}`
      }`;
    default:
      return brief(line);
  }
}

function runText(run: ChaosHandledRun): string {
  return `handled   ${run.id} n=${run.n} on ${run.node}`;
}

/**
 * `client`'s lines interleaved with faults (and its handler runs, by `record.runStartedAt`),
 * one per line. With `around`, only the lines within `windowMs` of `t`; without it, runs of
 * consecutive in-order deliveries are folded into one line.
 */
export function timeline(
  record: ChaosRecord,
  client: string,
  around?: { t: number; windowMs: number },
): string {
  const own: Entry[] = [];
  const others: Entry[] = [];
  for (const line of record.lines) {
    if (line.kind === "fault") {
      others.push({ t: line.t, text: describe(line) });
    } else if (CLIENT_KINDS.has(line.kind) && "client" in line && line.client === client) {
      const entry: Entry = { t: line.t, text: describe(line) };
      if (line.kind === "delivery") {
        entry.delivery = { stream: line.stream, epoch: line.epoch, offset: line.offset };
      }
      own.push(entry);
    }
  }
  const runs = record.handled.filter((run) => run.client === client);
  const startedAt = record.runStartedAt;
  if (startedAt !== undefined) {
    for (const run of runs) others.push({ t: run.at - startedAt, text: runText(run) });
  }
  others.sort((a, b) => a.t - b.t);

  // Merge: the client's lines keep their order; the others go in by time.
  const merged: Entry[] = [];
  let j = 0;
  for (const entry of own) {
    while (j < others.length && others[j]!.t < entry.t) merged.push(others[j++]!);
    merged.push(entry);
  }
  while (j < others.length) merged.push(others[j++]!);

  const inWindow = around
    ? (t: number) => Math.abs(t - around.t) <= around.windowMs
    : (_t: number) => true;
  const out: string[] = [];
  for (let i = 0; i < merged.length; i++) {
    const entry = merged[i]!;
    if (!inWindow(entry.t)) continue;
    const d = entry.delivery;
    if (!around && d) {
      let k = i;
      while (k + 1 < merged.length) {
        const next = merged[k + 1]!.delivery;
        const prev = merged[k]!.delivery!;
        if (!next || next.stream !== d.stream || next.epoch !== d.epoch) break;
        if (next.offset !== prev.offset + 1) break;
        k++;
      }
      if (k - i >= 2) {
        const last = merged[k]!;
        out.push(
          `${stamp(entry.t)}  delivery  ${d.stream} ${d.epoch}#${d.offset}..#${last.delivery!.offset} (${
            k - i + 1
          } in order, until ${stamp(last.t).trim()})`,
        );
        i = k;
        continue;
      }
    }
    out.push(`${stamp(entry.t)}  ${entry.text}`);
  }
  if (startedAt === undefined && runs.length > 0) {
    out.push("handler runs (shared log order, node clock):");
    for (const run of runs) out.push(`  at ${run.at}  ${runText(run)}`);
  }
  return out.join("\n");
}
