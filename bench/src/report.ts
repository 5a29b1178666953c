// Renders one run's results as the Markdown in results/latest.md: every figure next to its
// ratio to the Socket.IO baseline measured in the same run.
import type { LiveOutcome } from "./live.js";
import type { BenchResults, LiveSection, TargetCheck } from "./results.js";
import type { RoundsResult } from "./rounds.js";

const rate = (value: number) => Math.round(value).toLocaleString("en-US");
const ratio = (value: number) => `${value.toFixed(2)}×`;
const ms = (value: number | null) =>
  value === null ? "–" : value < 10 ? value.toFixed(2) : value.toFixed(1);

function liveValue(outcome: LiveOutcome | undefined): number | undefined {
  return outcome && "deliveriesPerSecond" in outcome ? outcome.deliveriesPerSecond : undefined;
}

function liveTable(sections: LiveSection[], baseline: string): string[] {
  const systems = sections[0]?.results.map((r) => ({ key: r.system, label: r.label })) ?? [];
  const head = sections.map((s) => `${s.title} (events/s × clients) | × plain`).join(" | ");
  const lines = [
    `| system | ${head} | latency p50 / p99, 1 client (ms) | latency p50 / p99, 100 clients (ms) |`,
    `|---|${sections.map(() => "---:|---:").join("|")}|---:|---:|`,
  ];
  const latencyOf = (section: LiveSection | undefined, key: string) => {
    const r = section?.results.find((x) => x.system === key);
    if (!r || !("deliveriesPerSecond" in r)) return "–";
    if (r.latencyError) return `failed: ${r.latencyError}`;
    return r.latencyP50Ms === null ? "–" : `${ms(r.latencyP50Ms)} / ${ms(r.latencyP99Ms)}`;
  };
  const withLatency = sections.filter((s) => s.latencySamples > 0);
  const oneClient = withLatency.find((s) => s.clients === 1);
  const many = withLatency.find((s) => s.clients > 1);
  for (const { key, label } of systems) {
    const cells: string[] = [];
    for (const section of sections) {
      const outcome = section.results.find((r) => r.system === key);
      const value = liveValue(outcome);
      const base = liveValue(section.results.find((r) => r.system === baseline));
      if (value === undefined) {
        cells.push(outcome && "error" in outcome ? outcome.error : "not measured", "–");
      } else {
        cells.push(rate(value), base ? ratio(value / base) : "–");
      }
    }
    lines.push(
      `| ${label} | ${cells.join(" | ")} | ${latencyOf(oneClient, key)} | ${latencyOf(many, key)} |`,
    );
  }
  return lines;
}

function roundsCell(result: RoundsResult, format: (v: number) => string): string {
  return "error" in result ? result.error : format(result.median);
}

function messageRows(list: RoundsResult[], link: string): string[] {
  const baseOf = (key: string) => {
    const r = list.find((x) => x.system === key);
    return r && "median" in r ? r.median : undefined;
  };
  const retries = baseOf("socketio-retries");
  const plain = baseOf("socketio");
  return list.map((r) => {
    const rounds = "rounds" in r ? r.rounds.length : 0;
    const value = "median" in r ? r.median : undefined;
    const vsRetries = value && retries ? ratio(value / retries) : "–";
    const vsPlain = value && plain ? ratio(value / plain) : "–";
    return `| ${r.label} | ${link} | ${rounds} | ${roundsCell(r, rate)} | ${vsRetries} | ${vsPlain} |`;
  });
}

/** A target's value in its unit: `1.23×`, `2.41 s`, `37.2 MB`, `12.0 ms`, `180 B`. */
export function formatTargetValue(value: number | null, unit: TargetCheck["unit"] = "×"): string {
  if (value === null || !Number.isFinite(value)) return "–";
  switch (unit) {
    case "×":
      return ratio(value);
    case "s":
      return `${value.toFixed(2)} s`;
    case "MB":
      return `${value.toFixed(1)} MB`;
    case "ms":
      return `${value.toFixed(1)} ms`;
    case "B":
      return `${Math.round(value)} B`;
  }
}

function stormRows(results: BenchResults): string[] {
  return (results.storm?.results ?? []).map((r) => {
    const work = `${r.clients.toLocaleString("en-US")} × ${r.missed.toLocaleString("en-US")}`;
    if ("error" in r) return `| ${r.label} | ${work} | ${r.error} | – | – | – |`;
    return `| ${r.label} | ${work} | ${rate(r.timeMs)} | ${r.rssGrowthMb.toFixed(1)} | ${ms(r.lagMaxMs)} | ${ms(r.lagP99Ms)} |`;
  });
}

/** The Markdown report of one run. */
export function renderMarkdown(results: BenchResults): string {
  const env = results.environment;
  const out: string[] = [
    "# Benchmark results",
    "",
    `Run ${results.generatedAt} in ${Math.round(results.durationSeconds)} s on Node ${env.node}, ${env.platform}, ${env.cpus} × ${env.cpuModel}, load average ${env.loadAverage.map((l) => l.toFixed(1)).join(" / ")} at the start.`,
    "Servers and clients share one process on loopback; each figure is the median of the rounds;",
    "ratios compare with the Socket.IO baseline measured in the same run. Method: docs/benchmarks.md.",
    "",
    "## Stores",
    "",
    "| store | status |",
    "|---|---|",
    ...results.stores.map(
      (s) =>
        `| ${s.kind} | ${s.available ? `measured (${s.setup})` : `unavailable: ${s.reason}`} |`,
    ),
    "",
  ];
  // A partial run (`--only`) leaves the sections it did not measure empty: they are left out.
  if (results.live.length > 0) {
    out.push(
      "## Live delivery (server → client)",
      "",
      ...results.live.map(
        (s) =>
          `- **${s.title}**: ${s.events.toLocaleString("en-US")} events to ${s.clients} client(s), ${s.burst} published per event-loop turn, ${s.rounds} rounds after a warm-up.`,
      ),
      "- **latency**: one event at a time, from the publish call to each client's handler.",
      "",
      ...liveTable(results.live, "socketio"),
      "",
    );
  }
  const { catchUp } = results;
  const csr = catchUp.results.find((r) => r.system === "socketio-csr");
  const csrMs = csr && "median" in csr ? csr.median : undefined;
  if (catchUp.results.length > 0) {
    out.push(
      `## Catch-up after missing ${catchUp.missed.toLocaleString("en-US")} events`,
      "",
      "From the reconnect to the last missed event in the client's handler.",
      "",
      "| system | rounds | time (ms) | × faster than Socket.IO recovery |",
      "|---|---:|---:|---:|",
      ...catchUp.results.map((r) => {
        const rounds = "rounds" in r ? r.rounds.length : 0;
        const speedup = "median" in r && csrMs ? ratio(csrMs / r.median) : "–";
        return `| ${r.label} | ${rounds} | ${roundsCell(r, (v) => rate(v))} | ${speedup} |`;
      }),
      "",
    );
  }
  const c2s = results.clientToServer;
  if (c2s.results.length > 0) {
    out.push(
      "## Client → server acknowledged messages",
      "",
      `At most ${c2s.inFlight} messages unanswered at a time; on loopback ${c2s.messages.toLocaleString("en-US")} messages per round (${c2s.storeMessages.toLocaleString("en-US")} with the persistent stores: SQLite, Redis, MongoDB, PostgreSQL); through a proxy adding a ${c2s.delayed.roundTripMs} ms round trip ${c2s.delayed.messages.toLocaleString("en-US")} messages per round.`,
      "",
      "| system | link | rounds | messages/s | × `retries` mode | × plain emitWithAck |",
      "|---|---|---:|---:|---:|---:|",
      ...messageRows(c2s.results, "loopback"),
      ...messageRows(c2s.delayed.results, `${c2s.delayed.roundTripMs} ms RTT`),
      "",
    );
  }
  if (results.storeWrites.results.length > 0) {
    out.push(
      "## Store appends against the bare driver",
      "",
      "Groups written one after another (each awaited); Assured's `append` assigns offsets, dedups ids and keeps the epoch, the bare write only stores the payloads.",
      "",
      "| store | events per write | events | Assured append (events/s) | bare driver (events/s) | Assured ÷ driver |",
      "|---|---:|---:|---:|---:|---:|",
      ...results.storeWrites.results.map((w) => {
        const cells =
          w.assuredPerSecond !== null && w.rawPerSecond !== null
            ? `${rate(w.assuredPerSecond)} | ${rate(w.rawPerSecond)} | ${ratio(w.assuredPerSecond / w.rawPerSecond)}`
            : `${w.error ?? "not measured"} | – | –`;
        return `| ${w.store} | ${w.groupSize} | ${w.events.toLocaleString("en-US")} | ${cells} |`;
      }),
      "",
    );
  }
  const storms = results.storm?.results ?? [];
  if (storms.length > 0) {
    out.push(
      "## Reconnect storm",
      "",
      "Every client missed the same events; all reconnect at once. The server runs in a child process (the clients in the bench process): its RSS and event-loop lag are its own. Time from the reconnect calls to the last missed event in the last client's handler; RSS growth is the server's peak during the storm minus its RSS at the start; lag from `perf_hooks.monitorEventLoopDelay` (10 ms resolution).",
      "",
      "| system | clients × missed events | time (ms) | server RSS growth (MB) | lag max (ms) | lag p99 (ms) |",
      "|---|---:|---:|---:|---:|---:|",
      ...stormRows(results),
      "",
    );
  }
  const retained = results.retainedMemory?.results ?? [];
  if (retained.length > 0) {
    out.push(
      "## Memory per retained event",
      "",
      "Events published through a server into the store, in a child process started with `--expose-gc`: heap used plus off-heap buffers after a full collection, before and after, divided by the events; the median of the rounds.",
      "",
      "| store | events | rounds | bytes per event | encoded payload (bytes) |",
      "|---|---:|---:|---:|---:|",
      ...retained.map((r) =>
        "error" in r
          ? `| ${r.store} | ${r.events.toLocaleString("en-US")} | 0 | ${r.error} | – |`
          : `| ${r.store} | ${r.events.toLocaleString("en-US")} | ${r.rounds.length} | ${Math.round(r.bytesPerEvent)} | ${r.payloadBytes} |`,
      ),
      "",
    );
  }
  out.push(
    "## Targets",
    "",
    "| target | goal | measured | met |",
    "|---|---:|---:|:---:|",
    ...results.targets.map(
      (t) =>
        `| ${t.target} | ${t.direction === "atMost" ? "≤" : "≥"} ${formatTargetValue(t.goal, t.unit)} | ${formatTargetValue(t.measured, t.unit)} | ${t.met ? "yes" : "**no**"} |`,
    ),
    "",
  );
  return out.join("\n");
}
