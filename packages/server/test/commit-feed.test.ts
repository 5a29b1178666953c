import { AssuredError, encode, MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { type BatchFrame, FRAMES } from "@assured/core/protocol";
import type { CommittedRange, EventStore } from "@assured/core/store";
import { Server } from "socket.io";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createAssuredServer, type ServerFailure } from "../src/index.js";
import { assuredAuth, type Peer, startAssured } from "./harness.js";

/*
 * The server's commit feed over real sockets: ranges a store reports as committed outside
 * `publish` (`watchCommits`) are read and emitted to the subscribed sockets of this server
 * only, in pages of `fetchLimit`, once; a failed read goes to `onError`; `close` stops the
 * reports. The store here is the memory store plus the reports (the SQLite store's own
 * reports are tested end to end in e2e/test/transactional).
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A memory store that reports `commit`'s appends like a store with transactional publish. */
function reportingStore() {
  const inner = new MemoryEventStore();
  const listeners = new Set<(commit: CommittedRange) => void>();
  const state = { failReads: 0, unwatched: 0 };
  const store: EventStore = {
    capabilities: inner.capabilities,
    append: (stream, entries) => inner.append(stream, entries),
    read: (stream, options) => {
      if (state.failReads > 0) {
        state.failReads--;
        return Promise.reject(new AssuredError("STORE_UNAVAILABLE", "the disk is gone"));
      }
      return inner.read(stream, options);
    },
    head: (stream) => inner.head(stream),
    reset: (stream) => inner.reset(stream),
    close: () => inner.close(),
    watchCommits: (listener) => {
      listeners.add(listener);
      return () => {
        state.unwatched++;
        listeners.delete(listener);
      };
    },
  };
  const commit = async (stream: string, data: unknown[]) => {
    const results = await inner.append(
      stream,
      data.map((d) => ({ name: "e", payload: encode(d) })),
    );
    const range = {
      stream,
      epoch: results[0]!.epoch,
      first: results[0]!.offset,
      last: results.at(-1)!.offset,
    };
    for (const listener of listeners) listener(range);
  };
  return { store, commit, state };
}

async function start(store: EventStore, limits = {}) {
  const failures: ServerFailure[] = [];
  const server = await startAssured({ store, onError: (f) => failures.push(f), limits });
  cleanups.push(() => server.close());
  return { server, failures };
}

async function subscribed(server: Awaited<ReturnType<typeof startAssured>>, stream: string) {
  const peer = await server.connect(assuredAuth([{ stream, position: null, from: "head" }]));
  await peer.next(FRAMES.subscribed);
  return peer;
}

function batches(peer: Peer, stream: string): BatchFrame[] {
  return peer.frames<BatchFrame>(FRAMES.batch).filter((b) => b.stream === stream);
}

describe("commit feed", () => {
  it("emits committed events to the stream's subscribers only, in fetchLimit pages, once each", async () => {
    const { store, commit } = reportingStore();
    const { server } = await start(store, { fetchLimit: 2 });
    const peer = await subscribed(server, "s");
    const other = await subscribed(server, "t");

    await commit("s", [1, 2, 3, 4, 5]);
    await peer.until(() => peer.offsets("s").length === 5);
    await server.assured.publish("s", "e", 6);
    await commit("s", [7]);
    await peer.until(() => peer.offsets("s").length === 7);
    await peer.roundTrip();
    await other.roundTrip();
    expect(peer.offsets("s")).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(peer.data("s")).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // 5 events in pages of 2, then the publish, then 1.
    expect(batches(peer, "s").map((b) => b.records.count)).toEqual([2, 2, 1, 1, 1]);
    expect(other.frames(FRAMES.batch)).toEqual([]);
    expect(server.assured.stats()).toMatchObject({ committedEvents: 6 });
  });

  it("a failed read goes to onError (store, commits) and the next range still goes out; close stops the reports", async () => {
    const { store, commit, state } = reportingStore();
    const { server, failures } = await start(store);
    const peer = await subscribed(server, "s");

    state.failReads = 1;
    await commit("s", ["lost"]);
    // No frame comes with a failure: wait for onError itself.
    await vi.waitFor(() => expect(failures).toHaveLength(1));
    expect(failures[0]).toMatchObject({ kind: "store", operation: "commits", stream: "s" });
    expect((failures[0]!.error as AssuredError).code).toBe("STORE_UNAVAILABLE");
    await commit("s", ["next"]);
    await peer.until(() => peer.offsets("s").length === 1);
    // The client sees offset 2 and would fetch offset 1 (gap repair).
    expect(peer.offsets("s")).toEqual([2]);

    expect(state.unwatched).toBe(0);
    await server.assured.close();
    expect(state.unwatched).toBe(1);
  });

  it("refuses a store whose watchCommits does not return the function that stops the reports", () => {
    const { store } = reportingStore();
    const broken: EventStore = { ...store, watchCommits: () => undefined as never };
    let error: unknown;
    try {
      const assured = createAssuredServer(new Server(), {
        store: broken,
        dedupStore: new MemoryDedupStore(),
      });
      // Built despite the broken store (no check): close it, whatever its close does.
      cleanups.push(async () => {
        await assured.close().catch(() => false);
      });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(AssuredError);
    expect(error).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect((error as Error).message).toContain("watchCommits");
  });

  it("closes even when the store's stop function throws, and reports the error to onError", async () => {
    const { store } = reportingStore();
    const failures: ServerFailure[] = [];
    const throwing: EventStore = {
      ...store,
      watchCommits: () => () => {
        throw new Error("the listener connection is gone");
      },
    };
    const io = new Server();
    const assured = createAssuredServer(io, {
      store: throwing,
      dedupStore: new MemoryDedupStore(),
      onError: (failure) => void failures.push(failure),
    });
    await expect(assured.close()).resolves.toBe(true);
    expect(failures).toMatchObject([
      { kind: "store", operation: "commits", error: { code: "STORE_UNAVAILABLE" } },
    ]);
  });
});
