import {
  AssuredError,
  decode,
  isAssuredError,
  MemoryDedupStore,
  MemoryEventStore,
} from "@assured/core";
import { type FetchReply, FRAMES } from "@assured/core/protocol";
import { type EventStore, toStoreError } from "@assured/core/store";
import { Server } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { createFailureReporter } from "../src/failure-reports.js";
import { createAssuredServer, type ServerFailure } from "../src/index.js";
import { assuredAuth, startAssured } from "./harness.js";

/*
 * The server's `onError` hook: every failure it answers on its own reaches the application with
 * its details (socket, principal, stream, message), while clients get the code and a safe
 * message — a store's driver text (hosts, ports) never leaves the server.
 */

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

async function start(options: Parameters<typeof startAssured>[0] = {}) {
  const failures: ServerFailure[] = [];
  const server = await startAssured({ onError: (f) => failures.push(f), ...options });
  close = () => server.close();
  return { server, failures };
}

/** An event store whose reads fail like a driver that lost its server. */
function unreachableReads(): EventStore {
  const inner = new MemoryEventStore();
  const down = () => new Error("connect ECONNREFUSED 10.1.2.3:6379 (cluster node db-7)");
  return {
    capabilities: inner.capabilities,
    append: (stream, entries) => inner.append(stream, entries),
    head: (stream) => inner.head(stream),
    reset: (stream) => inner.reset(stream),
    close: () => inner.close(),
    read: async () => {
      throw toStoreError(down(), "read");
    },
  };
}

describe("onError", () => {
  it("gets a handler's error with the socket, principal and message; the client gets the stored error", async () => {
    const { server, failures } = await start();
    const boom = new Error("order 42 is locked");
    server.assured.on("order:save", () => {
      throw boom;
    });
    const peer = await server.connect(assuredAuth([], "client-a"));
    const reply = await peer.send("order:save", { id: 42 }, "m-1");
    expect(reply).toMatchObject({ id: "m-1", ok: false, stored: true });
    expect(decode((reply as { payload: Uint8Array }).payload)).toMatchObject({
      message: "order 42 is locked",
    });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      kind: "handler",
      error: boom,
      principal: "client-a",
      message: { id: "m-1", name: "order:save" },
    });
    expect(failures[0]?.socket?.id).toBe(peer.socket.id);
    // The resend is answered from the dedup store: nothing runs, nothing is reported again.
    await peer.send("order:save", { id: 42 }, "m-1");
    expect(failures).toHaveLength(1);
  });

  it("gets a store failure with its driver error; the client's error carries no driver text", async () => {
    const store = unreachableReads();
    const { server, failures } = await start({ store });
    const [first] = await store.append("s", [{ id: "a", name: "e", payload: new Uint8Array() }]);
    const peer = await server.connect(assuredAuth());
    const reply = await peer.request<FetchReply>(FRAMES.fetch, {
      stream: "s",
      epoch: first!.epoch,
      after: 0,
      limit: 1,
    });
    expect(reply).toMatchObject({ ok: false, error: { code: "STORE_UNAVAILABLE" } });
    const text = JSON.stringify(reply);
    expect(text).not.toMatch(/10\.1\.2\.3|6379|ECONNREFUSED|db-7/);
    expect(failures).toHaveLength(1);
    const [failure] = failures;
    expect(failure).toMatchObject({ kind: "store", operation: "fetch", stream: "s" });
    expect(isAssuredError(failure?.error, "STORE_UNAVAILABLE")).toBe(true);
    expect(String((failure!.error as AssuredError).cause)).toMatch(/ECONNREFUSED 10\.1\.2\.3/);
  });

  it("gets a full dedup store (LIMIT_EXCEEDED) as a store failure; the client is told to retry", async () => {
    const { server, failures } = await start({
      dedupStore: new MemoryDedupStore({ maxEntries: 2 }),
    });
    server.assured.on("note", () => "ok");
    const peer = await server.connect(assuredAuth([], "client-a"));
    expect(await peer.send("note", 1, "m-1", 1)).toMatchObject({ ok: true });
    expect(await peer.send("note", 2, "m-2", 2)).toMatchObject({ ok: true });
    const full = await peer.send("note", 3, "m-3", 3);
    expect(full).toMatchObject({
      id: "m-3",
      ok: false,
      error: { code: "LIMIT_EXCEEDED" },
    });
    // Before, nothing was reported: the clients retried for as long as the store stayed full.
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      kind: "store",
      operation: "message",
      message: { id: "m-3", name: "note" },
    });
    expect(isAssuredError(failures[0]?.error, "LIMIT_EXCEEDED")).toBe(true);
  });

  it("gets refused frames and a throwing authorize hook", async () => {
    const { server, failures } = await start({
      authorize: () => {
        throw new Error("auth service down");
      },
    });
    const peer = await server.connect(assuredAuth());
    peer.socket.emit(FRAMES.fetch, { stream: "s", epoch: "", after: 0, limit: 1 });
    await peer.next(FRAMES.error);
    await peer.request(FRAMES.heads, { streams: ["s"] });
    expect(failures.map((f) => [f.kind, f.operation])).toEqual([
      ["frame", "fetch"],
      ["hook", "authorize"],
    ]);
    expect(failures[1]).toMatchObject({ stream: "s", error: { message: "auth service down" } });
  });

  it("a hook that throws is ignored: the server keeps answering", async () => {
    const { server } = await start({
      onError: () => {
        throw new Error("the hook itself is broken");
      },
    });
    server.assured.on("fail", () => {
      throw new Error("handler failure");
    });
    server.assured.on("ok", () => "fine");
    const peer = await server.connect(assuredAuth());
    expect(await peer.send("fail", null, "m-1", 1)).toMatchObject({ ok: false, stored: true });
    expect(await peer.send("ok", null, "m-2", 2)).toMatchObject({ ok: true });
  });

  it("must be a function", () => {
    const io = new Server(); // not attached: nothing listens
    const stores = { store: new MemoryEventStore(), dedupStore: undefined as never };
    expect(() =>
      createAssuredServer(io, {
        ...stores,
        dedupStore: { claim() {}, renew() {} } as never,
        onError: "log" as never,
      }),
    ).toThrow(
      expect.objectContaining({
        code: "INVALID_ARGUMENT",
        message: expect.stringMatching(/onError/),
      }),
    );
  });
});

describe("the default reporter (no onError)", () => {
  it("prints each handler failure, and store failures at most once per operation every 10 s", () => {
    const lines: string[] = [];
    let now = 0;
    const report = createFailureReporter(
      undefined,
      (line) => lines.push(line),
      () => now,
    );
    const storeDown = new AssuredError("STORE_UNAVAILABLE", "down");
    report({ kind: "handler", error: new Error("x"), message: { id: "m-1", name: "save" } });
    report({ kind: "handler", error: new Error("y"), message: { id: "m-2", name: "save" } });
    for (let i = 0; i < 5; i++) report({ kind: "store", error: storeDown, operation: "fetch" });
    report({ kind: "store", error: storeDown, operation: "heads" });
    now = 10_000;
    report({ kind: "store", error: storeDown, operation: "fetch" });
    report({ kind: "frame", error: new AssuredError("BAD_FRAME", "junk") });
    expect(lines).toEqual([
      '[assured] the handler of message m-1 ("save") failed:',
      '[assured] the handler of message m-2 ("save") failed:',
      "[assured] the store failed in fetch:",
      "[assured] the store failed in heads:",
      "[assured] the store failed in fetch (4 more since the last report):",
    ]);
  });
});
