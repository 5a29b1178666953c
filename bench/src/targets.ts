// The project's performance targets, checked against one run's results.
import type { BenchResults, TargetCheck } from "./results.js";
import type { RoundsResult } from "./rounds.js";

function median(result: RoundsResult | undefined): number | null {
  return result && "median" in result ? result.median : null;
}

/** Each target: the measured ratio (memory store against the Socket.IO baseline) and whether it is met. */
export function checkTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const check = (target: string, measured: number | null, goal: number, note: string) =>
    checks.push({ target, measured, goal, met: measured !== null && measured >= goal, note });
  for (const section of results.live) {
    const of = (key: string) => {
      const r = section.results.find((x) => x.system === key);
      return r && "deliveriesPerSecond" in r ? r.deliveriesPerSecond : null;
    };
    const assured = of("assured-memory");
    const plain = of("socketio");
    check(
      `Live delivery, ${section.title}: Assured (memory) ÷ plain Socket.IO`,
      assured !== null && plain !== null ? assured / plain : null,
      0.8,
      "deliveries per second",
    );
  }
  const find = (list: RoundsResult[], key: string) => list.find((r) => r.system === key);
  const csr = median(find(results.catchUp.results, "socketio-csr"));
  const replay = median(find(results.catchUp.results, "assured-memory"));
  check(
    `Catch-up of ${results.catchUp.missed.toLocaleString("en-US")} events: Socket.IO recovery time ÷ Assured (memory) time`,
    csr !== null && replay !== null ? csr / replay : null,
    10,
    "how many times faster",
  );
  const { clientToServer } = results;
  for (const [where, list] of [
    ["loopback", clientToServer.results],
    [`${clientToServer.delayed.roundTripMs} ms round trip`, clientToServer.delayed.results],
  ] as const) {
    const retries = median(find(list, "socketio-retries"));
    const outbox = median(find(list, "assured-memory"));
    check(
      `Client → server, ${where}: Assured client.emit (memory) ÷ Socket.IO \`retries\` mode`,
      outbox !== null && retries !== null ? outbox / retries : null,
      5,
      "acknowledged messages per second",
    );
  }
  return checks;
}
