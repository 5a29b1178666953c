import { describe, expect, it } from "vitest";
import { TabJournal } from "../src/chaos/browser-tab-journal.js";
import { TabProgress } from "../src/chaos/browser-tab-progress.js";
import type { TabLine } from "../src/chaos/browser-tab-protocol.js";
import { type ChaosProfile, shortProfile } from "../src/chaos/profiles.js";
import { runChaos } from "../src/chaos/run-chaos.js";

/**
 * Chromium tabs in a chaos run (`browser-tabs.ts`): two real `@assured/client` pages with
 * their positions and outbox in localStorage, next to worker-process clients, through the
 * fault proxy, while tabs are reloaded (a new client instance on the stored state) and taken
 * offline and connections are cut. The checker judges the tabs' lines with the rest.
 */
describe("chaos with browser tabs (G1–G10 across page reloads)", () => {
  it("Redis, 2 tabs reloaded and taken offline among cuts, fixed seed: no violation, every tab message answered", {
    timeout: 180_000,
  }, async () => {
    const profile: ChaosProfile = {
      ...shortProfile("redis"),
      workers: 1,
      clientsPerWorker: 4,
      tabs: 2,
      durationMs: 10_000,
      messagesPerSecond: 6,
      // About 14 faults: the schedule is seeded, but how many draws a cut takes depends on the
      // connections open at that moment, so the mix is asserted loosely.
      faultEveryMs: 700,
      faults: ["cut", "reload-tab", "offline-tab"],
    };
    const result = await runChaos(profile, 20_261_129);
    console.log(result.report.split("\n").slice(0, 5).join("\n"));
    const { figures, violations } = result.verdict;
    expect(violations, result.report).toEqual([]);
    expect(figures.faults.settled, "the run settled").toBe(1);
    expect(figures.faults["tab-reloaded"], "tabs were reloaded").toBeGreaterThanOrEqual(1);
    expect(figures.faults["offline-tab-end"], "tabs went offline").toBeGreaterThanOrEqual(1);
    const clients = profile.workers * profile.clientsPerWorker + 2;
    expect(figures.clients).toBe(clients);
    // Every client's messages, the tabs' included, were emitted and answered with their result.
    expect(figures.messages).toBe(clients * profile.messagesPerClient);
    expect(figures.settledOk).toBe(figures.messages);
    expect(result.report).toMatch(/^tabs: t0 reloads=\d+ .*; t1 reloads=\d+ /m);
  });
});

/** `Storage` over a map: the journal's storage in Node (the page uses `localStorage`). */
class MapStorage implements Storage {
  readonly #map = new Map<string, string>();
  get length(): number {
    return this.#map.size;
  }
  clear(): void {
    this.#map.clear();
  }
  getItem(key: string): string | null {
    return this.#map.get(key) ?? null;
  }
  key(index: number): string | null {
    return [...this.#map.keys()][index] ?? null;
  }
  removeItem(key: string): void {
    this.#map.delete(key);
  }
  setItem(key: string, value: string): void {
    this.#map.set(key, value);
  }
}

const line = (n: number): TabLine => ({ kind: "emit", t: n, client: "t0", id: `m${n}`, n });

describe("chaos tab journal and progress", () => {
  it("a new page life sends again exactly the batches the Node side did not take, in order; acked ones are forgotten", () => {
    const storage = new MapStorage();
    const sent: number[] = [];
    const first = new TabJournal(storage, (seq) => sent.push(seq));
    for (let n = 1; n <= 5; n++) first.write([line(n)]);
    first.ack(2);
    expect(storage.getItem("chaos-journal:2")).toBeNull();
    // Batches 4 and 5 were lost when the page went; the Node side took 1..3.
    const again: [number, TabLine[]][] = [];
    const second = new TabJournal(storage, (seq, lines) => again.push([seq, lines]));
    second.resend(3);
    expect(again).toEqual([
      [4, [line(4)]],
      [5, [line(5)]],
    ]);
    expect(storage.getItem("chaos-journal:3")).toBeNull();
    second.write([line(6)]);
    expect(again.at(-1)?.[0]).toBe(6);
    second.ack(6);
    expect(storage.length).toBe(1); // only the next number is kept
  });

  it("a result read after a reload settles a message once; the next page life continues the counter", () => {
    const progress = new TabProgress("t0", ["s"]);
    expect(progress.nextLife()).toEqual({ life: 0, nextN: 1, unsettled: [] });
    progress.take(line(1));
    progress.take(line(2));
    progress.take({ kind: "settled", t: 3, client: "t0", id: "m1", n: 1, ok: true, value: 1 });
    expect(progress.nextLife()).toEqual({ life: 1, nextN: 3, unsettled: [{ id: "m2", n: 2 }] });
    const viaResult = {
      kind: "settled",
      t: 4,
      client: "t0",
      id: "m2",
      n: 2,
      ok: true,
      value: 2,
      via: "result",
    } as const;
    const { via: _, ...settled } = viaResult;
    expect(progress.take(viaResult)).toEqual(settled);
    expect(progress.take({ ...viaResult, t: 5 })).toBeUndefined();
    expect(progress.status()).toMatchObject({ emitted: 2, settled: 2, pending: 0 });
    expect(progress.figures.settledAfterReload).toBe(1);
  });
});
