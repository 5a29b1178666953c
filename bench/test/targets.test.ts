import { describe, expect, it } from "vitest";
import { checkTargets, meets } from "../src/targets.js";
import { emptyResults, live, rounds, section, storm } from "./fixture.js";

const byName = (results: ReturnType<typeof checkTargets>, part: string) => {
  const found = results.filter((t) => t.target.includes(part));
  expect(found, part).toHaveLength(1);
  return found[0]!;
};

describe("meets", () => {
  it("compares in the target's direction and never meets an unmeasured value", () => {
    expect(meets(1, 1)).toBe(true);
    expect(meets(0.99, 1)).toBe(false);
    expect(meets(3, 3, "atMost")).toBe(true);
    expect(meets(3.01, 3, "atMost")).toBe(false);
    expect(meets(null, 1)).toBe(false);
    expect(meets(Number.NaN, 1, "atMost")).toBe(false);
  });
});

describe("checkTargets", () => {
  it("checks live memory against plain and batched Socket.IO, SQLite at one per turn, and latency at 100 clients", () => {
    const results = emptyResults({
      live: [
        section("1 client", 1, 10, [
          live("socketio", 100),
          live("socketio-batched", 200),
          live("assured-memory", 150),
          live("assured-sqlite", 10),
        ]),
        section(
          "100 clients",
          100,
          10,
          [
            live("socketio", 100, 1),
            live("socketio-batched", 100, 1),
            live("assured-memory", 100, 1.3),
          ],
          50,
        ),
        section("1 client, 1 event per turn", 1, 1, [
          live("socketio", 100),
          live("socketio-batched", 100),
          live("assured-memory", 90),
          live("assured-sqlite", 80),
        ]),
      ],
    });
    const targets = checkTargets(results);
    expect(byName(targets, "1 client: Assured (memory) ÷ plain")).toMatchObject({
      measured: 1.5,
      goal: 1,
      met: true,
    });
    expect(byName(targets, "1 client: Assured (memory) ÷ Socket.IO batched")).toMatchObject({
      measured: 0.75,
      goal: 0.9,
      met: false,
    });
    expect(byName(targets, "1 event per turn: Assured (memory) ÷ plain")).toMatchObject({
      measured: 0.9,
      met: false,
    });
    expect(byName(targets, "1 event per turn: Assured (SQLite)")).toMatchObject({
      measured: 0.8,
      goal: 0.8,
      met: true,
    });
    // SQLite is only held to a goal at one event per turn.
    expect(targets.filter((t) => t.target.includes("(SQLite)"))).toHaveLength(1);
    const latency = byName(targets, "Latency p50, 100 clients");
    expect(latency).toMatchObject({ goal: 1.2, direction: "atMost", met: false });
    expect(latency.measured).toBeCloseTo(1.3);
  });

  it("checks catch-up per store and client → server per store against plain emitWithAck", () => {
    const results = emptyResults();
    results.catchUp.results = [
      rounds("socketio-csr", 6000),
      rounds("assured-memory", 1000),
      rounds("assured-sqlite", 2000),
      { system: "assured-redis", label: "redis", error: "timed out" },
    ];
    results.clientToServer.results = [
      rounds("socketio", 1000),
      rounds("socketio-retries", 10),
      rounds("assured-memory", 900),
      rounds("assured-mongodb", 99),
      rounds("assured-postgres", 400),
    ];
    const targets = checkTargets(results);
    expect(byName(targets, "100,000, memory: Socket.IO recovery")).toMatchObject({
      measured: 6,
      goal: 6,
      met: true,
    });
    expect(byName(targets, "100,000, SQLite: Socket.IO recovery")).toMatchObject({
      measured: 3,
      goal: 4,
      met: false,
    });
    // A store that failed is missed, not left out.
    expect(byName(targets, "100,000, Redis: Socket.IO recovery")).toMatchObject({
      measured: null,
      met: false,
    });
    expect(byName(targets, "(loopback), memory:")).toMatchObject({
      measured: 0.9,
      goal: 0.9,
      met: true,
    });
    expect(byName(targets, "(loopback), MongoDB")).toMatchObject({ goal: 0.1, met: false });
    expect(byName(targets, "(loopback), PostgreSQL")).toMatchObject({
      measured: 0.4,
      goal: 0.4,
      met: true,
    });
    // Stores not in the run are left out; no target is held against `retries` mode.
    expect(targets.some((t) => t.target.includes("(loopback), SQLite"))).toBe(false);
    expect(targets.some((t) => t.target.includes("retries"))).toBe(false);
  });

  it("checks the largest storm per Assured store (time, RSS growth, lag) and the memory per retained event", () => {
    const results = emptyResults({
      storm: {
        rounds: 1,
        results: [
          storm("socketio-csr", 1000, 9000, 300, 2000),
          storm("assured-memory", 100, 100, 1, 1),
          storm("assured-memory", 1000, 2500, 70, 100),
          { system: "assured-sqlite", label: "sqlite", clients: 1000, missed: 1000, error: "boom" },
        ],
      },
      retainedMemory: {
        results: [
          { store: "memory", events: 100_000, rounds: [240], bytesPerEvent: 240, payloadBytes: 67 },
        ],
      },
    });
    const targets = checkTargets(results);
    expect(targets.filter((t) => t.target.startsWith("Storm"))).toHaveLength(6);
    expect(byName(targets, "memory: time")).toMatchObject({
      measured: 2.5,
      goal: 3,
      unit: "s",
      met: true,
    });
    expect(byName(targets, "memory: server RSS")).toMatchObject({
      measured: 70,
      goal: 64,
      unit: "MB",
      met: false,
    });
    expect(byName(targets, "memory: server event-loop lag")).toMatchObject({
      measured: 100,
      met: true,
    });
    expect(byName(targets, "SQLite: time")).toMatchObject({ measured: null, met: false });
    expect(byName(targets, "Memory per retained event")).toMatchObject({
      measured: 240,
      goal: 250,
      unit: "B",
      met: true,
    });
  });

  it("keeps the PostgreSQL append target per group size", () => {
    const results = emptyResults();
    results.storeWrites.results = [
      { store: "postgres", groupSize: 1, events: 200, assuredPerSecond: 50, rawPerSecond: 100 },
      { store: "postgres", groupSize: 100, events: 5000, assuredPerSecond: 40, rawPerSecond: 100 },
      { store: "sqlite", groupSize: 1, events: 200, assuredPerSecond: 1, rawPerSecond: 100 },
    ];
    const targets = checkTargets(results).filter((t) => t.target.startsWith("Store append"));
    expect(targets.map((t) => [t.measured, t.met])).toEqual([
      [0.5, true],
      [0.4, false],
    ]);
  });
});
