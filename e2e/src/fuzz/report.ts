import type { FuzzReport } from "./driver.js";

/** The one-line summary of a run (what CI logs show, and what a replay compares against). */
export function summaryLine(report: FuzzReport): string {
  const { frames, rssMb, good } = report;
  const events = Object.entries(good.events)
    .map(
      ([stream, e]) => `${stream} ${e.delivered}/${e.expected}${e.exactlyOnceInOrder ? "" : "!"}`,
    )
    .join(", ");
  return (
    `FUZZ seed=${report.seed} store=${report.store} fuzz=${(report.fuzzMs / 1000).toFixed(1)}s ` +
    `wall=${(report.wallMs / 1000).toFixed(1)}s frames=${frames.total} ` +
    `(socket.io ${frames.socketIo}, raw ${frames.raw}, http ${frames.http}, good ${frames.good}; ` +
    `handshakes ${frames.handshakes}) crashes=${report.crashes} leaks=${report.leaks} ` +
    `maxLag=${report.maxEventLoopLagMs}ms (p99 ${report.maxEventLoopLagP99Ms}ms; fuzzer ${report.fuzzerMaxLagMs}ms) ` +
    `rss=${rssMb.start}/${rssMb.peak}/${rssMb.end}MB (start/peak/end${report.settleMs > 0 ? ` after ${report.settleMs / 1000}s idle` : ""}) ` +
    `heap=${report.heapUsedMb.start}/${report.heapUsedMb.peak}/${report.heapUsedMb.end}MB ` +
    `internal=${report.findings["internal-error"]} untyped=${report.findings["untyped-error"]} ` +
    `unanswered=${report.findings.unanswered} badReply=${report.findings["bad-reply"]} ` +
    `stalls=${report.findings.stall} ghostRoomMembers=${report.ghostRoomMembers} ` +
    `good=${good.served ? "served" : "NOT SERVED"} (messages ${good.messagesAnswered}/${good.messagesSent}; ${events})`
  );
}

/** The full report: the summary, then findings with where they happened, then a crash's details. */
export function formatReport(report: FuzzReport): string {
  const lines = [summaryLine(report)];
  lines.push(
    `replay: FUZZ_SEED=${report.seed} (sessions are generated per driver from the seed; "where" names driver, batch and item)`,
  );
  lines.push(
    `server answers seen: ${Object.entries(report.outcomes)
      .map(([label, n]) => `${label} ${n}`)
      .join(", ")}`,
  );
  if (Object.keys(report.categories).length > 0) {
    lines.push(`findings by category: ${JSON.stringify(report.categories)}`);
  }
  for (const finding of report.samples) {
    lines.push(`  [${finding.kind}] ${finding.where}: ${finding.detail}`);
  }
  for (const leak of report.roomLeaks) {
    lines.push(
      `  [room-leak] socket ${leak.socketId} of principal ${leak.principal ?? "(none)"} in room of ${JSON.stringify(leak.stream)}`,
    );
  }
  if (report.good.clientErrors.length > 0) {
    lines.push(`  good client errors: ${report.good.clientErrors.join("; ")}`);
  }
  if (report.crash !== undefined) {
    lines.push(`  crash: exit code ${report.crash.code}, signal ${report.crash.signal}`);
    if (report.crash.fatal !== undefined) lines.push(`  uncaught: ${report.crash.fatal}`);
    lines.push(`  stderr tail:\n${indent(report.crash.stderr)}`);
    lines.push("  last sessions started before the crash (oldest first):");
    for (const frame of report.crash.lastFrames) lines.push(`    ${frame}`);
  }
  return lines.join("\n");
}

function indent(text: string): string {
  return text
    .trim()
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}
