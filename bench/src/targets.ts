// The project's performance targets, checked against one run's results. A target whose system
// was not part of the run (`--only`, `--stores`) is left out; one whose system failed is missed.
import type { BenchResults, TargetCheck } from "./results.js";
import type { RoundsResult } from "./rounds.js";

function median(result: RoundsResult | undefined): number | null {
  return result && "median" in result ? result.median : null;
}

/** Persistent stores with targets of their own: each against its baselines in the same run. */
const STORE_TARGETS = [
  {
    kind: "postgres",
    name: "PostgreSQL",
    /** `eventStore.append` ÷ the bare driver's batched INSERT of the same payloads. */
    appendVsDriver: 0.5,
    /** Assured `client.emit` on this store ÷ plain `emitWithAck`, on loopback. */
    messagesVsPlain: 0.4,
  },
] as const;

/** Each target: the measured ratio (memory store against the Socket.IO baseline) and whether it is met. */
export function checkTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const check = (target: string, measured: number | null, goal: number, note: string) =>
    checks.push({ target, measured, goal, met: measured !== null && measured >= goal, note });
  const ratioOf = (a: number | null, b: number | null) => (a !== null && b !== null ? a / b : null);
  for (const section of results.live) {
    const of = (key: string) => {
      const r = section.results.find((x) => x.system === key);
      return r && "deliveriesPerSecond" in r ? r.deliveriesPerSecond : null;
    };
    if (!section.results.some((r) => r.system === "assured-memory")) continue;
    check(
      `Live delivery, ${section.title}: Assured (memory) ÷ plain Socket.IO`,
      ratioOf(of("assured-memory"), of("socketio")),
      0.8,
      "deliveries per second",
    );
  }
  const find = (list: RoundsResult[], key: string) => list.find((r) => r.system === key);
  const catchUp = results.catchUp.results;
  if (find(catchUp, "assured-memory")) {
    check(
      `Catch-up of ${results.catchUp.missed.toLocaleString("en-US")} events: Socket.IO recovery time ÷ Assured (memory) time`,
      ratioOf(median(find(catchUp, "socketio-csr")), median(find(catchUp, "assured-memory"))),
      10,
      "how many times faster",
    );
  }
  const { clientToServer } = results;
  for (const [where, list] of [
    ["loopback", clientToServer.results],
    [`${clientToServer.delayed.roundTripMs} ms round trip`, clientToServer.delayed.results],
  ] as const) {
    if (!find(list, "assured-memory")) continue;
    check(
      `Client → server, ${where}: Assured client.emit (memory) ÷ Socket.IO \`retries\` mode`,
      ratioOf(median(find(list, "assured-memory")), median(find(list, "socketio-retries"))),
      5,
      "acknowledged messages per second",
    );
  }
  for (const store of STORE_TARGETS) {
    for (const w of results.storeWrites.results.filter((r) => r.store === store.kind)) {
      check(
        `Store append, ${store.name}, ${w.groupSize} event(s) per write: Assured append ÷ bare driver`,
        ratioOf(w.assuredPerSecond, w.rawPerSecond),
        store.appendVsDriver,
        "events written per second",
      );
    }
    const key = `assured-${store.kind}`;
    if (find(clientToServer.results, key)) {
      check(
        `Client → server, loopback: Assured client.emit (${store.kind}) ÷ plain Socket.IO emitWithAck`,
        ratioOf(
          median(find(clientToServer.results, key)),
          median(find(clientToServer.results, "socketio")),
        ),
        store.messagesVsPlain,
        "acknowledged messages per second",
      );
    }
  }
  return checks;
}
