import { describe, expect, it } from "vitest";
import type { ClientStatus, SeenPosition } from "../src/chaos/client-worker-protocol.js";
import { seeOutcome } from "../src/chaos/client-worker-protocol.js";
import { clientSettled } from "../src/chaos/settle.js";
import type { StoredLog } from "../src/chaos/topology.js";

function status(positions: Record<string, SeenPosition>, pending = 0): ClientStatus {
  return {
    name: "c1",
    connected: true,
    pending,
    delivered: Object.fromEntries(Object.entries(positions).map(([s, p]) => [s, p.offset])),
    positions,
    deliveries: 0,
    outcomes: 0,
    notRecovered: 0,
    emitted: 3,
    settled: 3 - pending,
    failed: 0,
    errors: 0,
  };
}

function logs(epoch: string, head: number, headId?: string): Map<string, StoredLog> {
  const log: StoredLog = { epoch, head, earliest: 1, events: new Map() };
  if (headId !== undefined) log.headId = headId;
  return new Map([["s", log]]);
}

describe("chaos settle check", () => {
  it("a client on the log's epoch, head and head event has settled", () => {
    expect(
      clientSettled(status({ s: { epoch: "e", offset: 9, id: "x9" } }), 3, logs("e", 9, "x9")),
    ).toBe(true);
  });

  it("a client still on events a snapshot restore lost has not, though its offset is past the head", () => {
    // The store went back to #7 and re-issued #8 and #9 with other events: the client's #9 is lost.
    expect(
      clientSettled(status({ s: { epoch: "e", offset: 9, id: "old9" } }), 3, logs("e", 9, "x9")),
    ).toBe(false);
    expect(
      clientSettled(status({ s: { epoch: "e", offset: 12, id: "old12" } }), 3, logs("e", 9, "x9")),
    ).toBe(false);
  });

  it("a client in a lost epoch, or behind, or with messages unanswered has not", () => {
    expect(clientSettled(status({ s: { epoch: "lost", offset: 9 } }), 3, logs("e", 9))).toBe(false);
    expect(
      clientSettled(status({ s: { epoch: "e", offset: 8, id: "x8" } }), 3, logs("e", 9, "x9")),
    ).toBe(false);
    expect(clientSettled(status({}), 3, logs("e", 9))).toBe(false);
    expect(
      clientSettled(status({ s: { epoch: "e", offset: 9, id: "x9" } }, 1), 3, logs("e", 9, "x9")),
    ).toBe(false);
  });

  it("an outcome at the head settles it; an empty log needs nothing", () => {
    const positions: Record<string, SeenPosition> = { s: { epoch: "e", offset: 9, id: "old9" } };
    seeOutcome(positions, { stream: "s", recovered: true, epoch: "e", offset: 9 });
    expect(positions.s).toEqual({ epoch: "e", offset: 9, id: "old9" });
    // A `diverged` outcome at the same offset names another event: the id goes.
    seeOutcome(positions, { stream: "s", recovered: false, epoch: "e", offset: 9 });
    expect(positions.s).toEqual({ epoch: "e", offset: 9 });
    seeOutcome(positions, { stream: "s", recovered: false, epoch: "e2", offset: 4 });
    expect(positions.s).toEqual({ epoch: "e2", offset: 4 });
    expect(clientSettled(status(positions), 3, logs("e2", 4, "y4"))).toBe(true);
    expect(clientSettled(status({ s: { epoch: "lost", offset: 9 } }), 3, logs("e3", 0))).toBe(true);
  });
});
