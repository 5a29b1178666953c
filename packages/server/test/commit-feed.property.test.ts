import { AssuredError, encode, MemoryEventStore } from "@assured/core";
import { unpackRecords } from "@assured/core/protocol";
import type { CommittedRange } from "@assured/core/store";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CommitFeed, type CommitFeedTarget } from "../src/commit-feed.js";

/**
 * The server's commit feed on a real memory store: whatever ranges the store reports —
 * repeated, overlapping, out of order, of a reset epoch, arriving in one turn or spread over
 * several — each stream's emitted offsets are increasing and each is emitted at most once;
 * every offset emitted was reported; and ranges reported in commit order are emitted whole.
 */

interface Emitted {
  stream: string;
  epoch: string;
  offsets: number[];
}

async function setup(options: { events: number; fetchLimit: number; maxBatchBytes: number }) {
  const store = new MemoryEventStore();
  const results = await store.append(
    "s",
    Array.from({ length: options.events }, (_, i) => ({
      name: "e",
      payload: encode("x".repeat(i % 7)),
    })),
  );
  const epoch = results[0]!.epoch;
  const frames: Emitted[] = [];
  const failures: unknown[] = [];
  let subscribed = true;
  const target: CommitFeedTarget = {
    read: (stream, o) => store.read(stream, o),
    hasLocalSubscribers: () => subscribed,
    emitLocal: (_room, frame) => {
      const f = frame as { stream: string; epoch: string; records: unknown };
      const { records } = unpackRecords(f.stream, f.records);
      frames.push({ stream: f.stream, epoch: f.epoch, offsets: records.map((r) => r.offset) });
    },
    fetchLimit: options.fetchLimit,
    maxBatchBytes: options.maxBatchBytes,
    failed: (error) => failures.push(error),
    emitted: () => undefined,
  };
  const feed = new CommitFeed(target);
  return {
    store,
    epoch,
    feed,
    frames,
    failures,
    unsubscribe: () => {
      subscribed = false;
    },
    offsets: () => frames.flatMap((f) => f.offsets),
  };
}

const range = (events: number) =>
  fc
    .tuple(fc.integer({ min: 1, max: events }), fc.integer({ min: 0, max: 5 }), fc.boolean())
    .map(([first, extra, otherEpoch]) => ({
      first,
      last: Math.min(events, first + extra),
      otherEpoch,
    }));

describe("CommitFeed", () => {
  it("property: emitted offsets per stream are increasing, each at most once, each reported; commit-order reports are emitted whole", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 30 }).chain((events) =>
          fc.record({
            events: fc.constant(events),
            reports: fc.array(range(events), { minLength: 1, maxLength: 25 }),
            pauses: fc.array(fc.boolean(), { minLength: 25, maxLength: 25 }),
            fetchLimit: fc.integer({ min: 1, max: 8 }),
            maxBatchBytes: fc.integer({ min: 1, max: 40 }),
          }),
        ),
        async ({ events, reports, pauses, fetchLimit, maxBatchBytes }) => {
          const t = await setup({ events, fetchLimit, maxBatchBytes });
          const reported = new Set<number>();
          for (const [i, r] of reports.entries()) {
            const epoch = r.otherEpoch ? "gone" : t.epoch;
            if (!r.otherEpoch) for (let o = r.first; o <= r.last; o++) reported.add(o);
            t.feed.report({ stream: "s", epoch, first: r.first, last: r.last });
            if (pauses[i]) await new Promise((resolve) => setImmediate(resolve));
          }
          await t.feed.idle();
          const offsets = t.offsets();
          for (let i = 1; i < offsets.length; i++)
            expect(offsets[i]).toBeGreaterThan(offsets[i - 1]!);
          for (const o of offsets) expect(reported.has(o)).toBe(true);
          expect(t.frames.every((f) => f.stream === "s" && f.epoch === t.epoch)).toBe(true);
          const lastReported = Math.max(0, ...reported);
          if (lastReported > 0) expect(offsets.at(-1)).toBe(lastReported);
          expect(t.failures).toEqual([]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("property: ranges reported in commit order (increasing, repeated or not) are emitted exactly", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        fc.integer({ min: 1, max: 5 }),
        async (sizes, repeat, fetchLimit) => {
          const events = sizes.reduce((a, b) => a + b, 0);
          const t = await setup({ events, fetchLimit, maxBatchBytes: 10 });
          let first = 1;
          for (const [i, size] of sizes.entries()) {
            const r: CommittedRange = {
              stream: "s",
              epoch: t.epoch,
              first,
              last: first + size - 1,
            };
            t.feed.report(r);
            if (repeat[i]) t.feed.report({ ...r });
            first += size;
          }
          await t.feed.idle();
          expect(t.offsets()).toEqual(Array.from({ length: events }, (_, i) => i + 1));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("a failed read is reported and the next range still goes out; no subscriber, nothing read", async () => {
    const t = await setup({ events: 6, fetchLimit: 10, maxBatchBytes: 100 });
    const read = t.store.read.bind(t.store);
    let fail = true;
    t.store.read = async (stream, options) => {
      if (fail) {
        fail = false;
        throw new AssuredError("STORE_UNAVAILABLE", "down");
      }
      return read(stream, options);
    };
    t.feed.report({ stream: "s", epoch: t.epoch, first: 1, last: 2 });
    t.feed.report({ stream: "s", epoch: t.epoch, first: 5, last: 6 });
    await t.feed.idle();
    expect(t.failures).toHaveLength(1);
    expect(t.offsets()).toEqual([5, 6]);
    t.unsubscribe();
    t.feed.report({ stream: "s", epoch: t.epoch, first: 3, last: 6 });
    await t.feed.idle();
    expect(t.offsets()).toEqual([5, 6]);
  });

  it("a range of a log that was reset since is skipped", async () => {
    const t = await setup({ events: 3, fetchLimit: 10, maxBatchBytes: 100 });
    const { epoch } = await t.store.reset("s");
    await t.store.append("s", [{ name: "e", payload: encode(1) }]);
    t.feed.report({ stream: "s", epoch: t.epoch, first: 1, last: 3 });
    t.feed.report({ stream: "s", epoch, first: 1, last: 1 });
    await t.feed.idle();
    expect(t.frames).toEqual([{ stream: "s", epoch, offsets: [1] }]);
  });
});

describe("CommitFeed's stream map", () => {
  it("stays cheap with more subscribed streams than it keeps idle: a first report does not scan every stream", async () => {
    let checks = 0;
    const feed = new CommitFeed({
      read: async () => ({ epoch: "other", head: 0, earliest: 1, records: [] }),
      hasLocalSubscribers: () => {
        checks++;
        return true;
      },
      emitLocal: () => undefined,
      fetchLimit: 10,
      maxBatchBytes: 100,
      failed: () => undefined,
      emitted: () => undefined,
    });
    const streams = 5_000;
    for (let i = 0; i < streams; i++) {
      feed.report({ stream: `s${i}`, epoch: "e", first: 1, last: 1 });
      await feed.idle();
    }
    // Per report: the check in `report`, the one in the read loop, and amortized sweeps.
    expect(checks).toBeLessThan(10 * streams);
  });
});

describe("CommitFeed.stop", () => {
  it("a read that fails after stop (the store closing after the server) is not reported", async () => {
    let fail: (error: Error) => void = () => undefined;
    const failures: unknown[] = [];
    const feed = new CommitFeed({
      read: () =>
        new Promise((_resolve, reject) => {
          fail = reject;
        }),
      hasLocalSubscribers: () => true,
      emitLocal: () => undefined,
      fetchLimit: 10,
      maxBatchBytes: 100,
      failed: (error) => failures.push(error),
      emitted: () => undefined,
    });
    feed.report({ stream: "s", epoch: "e", first: 1, last: 3 });
    feed.stop();
    fail(new AssuredError("STORE_CLOSED", "closed"));
    await feed.idle();
    expect(failures).toEqual([]);
  });
});
