import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAssuredClient } from "@assured/client";
import { createMemoryBackend, decode, MemoryDedupStore } from "@assured/core";
import { dedupKey, type MessageReply } from "@assured/core/protocol";
import type { DedupStore } from "@assured/core/store";
import type { MessageContext } from "@assured/server";
import { SqliteDedupStore } from "@assured/store-sqlite";
import { io as connectClient } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { deferred } from "../../src/deferred.js";
import { assuredAuth, startAssured } from "./harness.js";

/**
 * Fenced leases (DESIGN.md §8): the server renews a running handler's lease, so a handler
 * slower than `leaseMs` runs once and answers once; a run that loses its lease sees
 * `context.signal` abort and its answer is not stored; `context.fencingToken` grows with every
 * takeover; closing the server aborts running handlers' signals.
 */

type Started = Awaited<ReturnType<typeof startAssured>>;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(options: Parameters<typeof startAssured>[0] = {}): Promise<Started> {
  const started = await startAssured(options);
  cleanups.push(() => started.close());
  return started;
}

/** A SQLite database file in a fresh temp directory, removed after the test. */
function sqliteFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "assured-fenced-"));
  cleanups.unshift(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "dedup.sqlite");
}

function sqliteStore(path: string): DedupStore {
  const store = new SqliteDedupStore({ path, sweepIntervalMs: 0 });
  cleanups.push(() => store.close());
  return store;
}

const payloadOf = (reply: MessageReply) => decode((reply as { payload: Uint8Array }).payload);

/** Resolves once the signal aborts, with its reason. */
const aborted = (signal: AbortSignal) =>
  new Promise<unknown>((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });

/** A real store whose renewals can be cut off, as for a node partitioned from the store. */
function partitionable(store: DedupStore) {
  let cut = false;
  const never = new Promise<never>(() => {});
  const wrapped: DedupStore = {
    capabilities: store.capabilities,
    claim: (...args) => store.claim(...args),
    complete: (...args) => store.complete(...args),
    release: (...args) => (cut ? never : store.release(...args)),
    renew: (...args) => (cut ? never : store.renew(...args)),
    close: () => store.close(),
  };
  return { store: wrapped, cut: () => (cut = true) };
}

describe.each([
  ["MemoryDedupStore", () => new MemoryDedupStore()],
  ["SqliteDedupStore", () => sqliteStore(sqliteFile())],
])("fenced leases on %s", (_name, makeStore) => {
  it("G9: a 3 s handler with a 1 s lease runs exactly once; emit resolves once with its answer, no TIMEOUT", async () => {
    const server = await start({ dedupStore: makeStore(), limits: { leaseMs: 1_000 } });
    const runs = new Map<string, number>();
    const abortedRuns: string[] = [];
    server.assured.on("slow", async (text: string, { signal }) => {
      runs.set(text, (runs.get(text) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      if (signal.aborted) abortedRuns.push(text);
      return `done ${text}`;
    });
    // @assured/client, resending after its own 1.5 s ack timeout while the handler runs.
    const socket = connectClient(server.url, { autoConnect: false, transports: ["websocket"] });
    const client = createAssuredClient(socket, {
      ackTimeoutMs: 1_500,
      retry: { initialMs: 20, maxMs: 100, factor: 2 },
    });
    cleanups.push(() => client.close());
    cleanups.push(() => void socket.disconnect());
    await client.connect();
    // A raw client on the side sees every reply the server sends it.
    const peer = await server.connect(assuredAuth());
    const [emitted, reply] = await Promise.all([
      client.emit("slow", "client"),
      peer.send("slow", "raw", "raw-1", 1),
    ]);
    expect(emitted).toBe("done client");
    expect(reply).toMatchObject({ id: "raw-1", ok: true });
    expect(payloadOf(reply)).toBe("done raw");
    expect(Object.fromEntries(runs)).toEqual({ client: 1, raw: 1 });
    expect(abortedRuns).toEqual([]);
  });
});

describe("fenced leases: losing the lease", () => {
  it("G9: a run whose lease is taken over sees signal.aborted (LEASE_LOST) and its answer is not stored", async () => {
    const backend = createMemoryBackend();
    const nodeA = partitionable(new MemoryDedupStore({ backend }));
    const limits = { leaseMs: 300 };
    const serverA = await start({ dedupStore: nodeA.store, limits });
    const serverB = await start({ dedupStore: new MemoryDedupStore({ backend }), limits });
    const startedOnA = deferred<MessageContext>();
    const finishA = deferred();
    const seenOnA: { aborted: boolean; reason?: unknown }[] = [];
    serverA.assured.on("pay", async (_data: unknown, context) => {
      startedOnA.resolve(context);
      const reason = await aborted(context.signal);
      seenOnA.push({ aborted: context.signal.aborted, reason });
      await finishA.promise;
      return "A"; // returns anyway: a run that ignores its signal
    });
    const tokensOnB: number[] = [];
    serverB.assured.on("pay", async (_data: unknown, { fencingToken }) => {
      tokensOnB.push(fencingToken);
      return "B";
    });
    const auth = assuredAuth([], "client-1");
    const onA = await serverA.connect(auth);
    const replyA = onA.send("pay", 5, "msg-1");
    const contextA = await startedOnA.promise;
    nodeA.cut(); // node A can no longer renew: its lease ends within leaseMs
    expect(await replyA).toMatchObject({
      ok: false,
      error: { code: "TIMEOUT", details: { reason: "LEASE_LOST" } },
    });
    expect(seenOnA).toEqual([
      { aborted: true, reason: expect.objectContaining({ code: "LEASE_LOST" }) },
    ]);
    // The client retries on node B once the lease ended in the store: B takes the message over.
    const onB = await serverB.connect(auth);
    let replyB = await onB.send("pay", 5, "msg-1");
    while (!replyB.ok) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      replyB = await onB.send("pay", 5, "msg-1");
    }
    expect(payloadOf(replyB)).toBe("B");
    expect(tokensOnB).toHaveLength(1);
    expect(tokensOnB[0]).toBeGreaterThan(contextA.fencingToken);
    // A's handler finishes later: its answer is not stored; duplicates keep getting B's.
    finishA.resolve();
    await serverA.assured.close();
    expect(payloadOf(await onB.send("pay", 5, "msg-1"))).toBe("B");
    expect(tokensOnB).toHaveLength(1);
  });

  it("G9: the fencing token grows across a takeover by a second server on the same SQLite file", async () => {
    const path = sqliteFile();
    const storeA = sqliteStore(path);
    const limits = { leaseMs: 400 };
    const serverA = await start({ dedupStore: storeA, limits });
    const serverB = await start({ dedupStore: sqliteStore(path), limits });
    const startedOnA = deferred<MessageContext>();
    serverA.assured.on("job", async (_data: unknown, context) => {
      startedOnA.resolve(context);
      await new Promise(() => {}); // hung: never settles, ignores its signal
    });
    const onB = deferred<MessageContext>();
    serverB.assured.on("job", async (_data: unknown, context) => {
      onB.resolve(context);
      return "B";
    });
    const auth = assuredAuth([], "client-1");
    const peerA = await serverA.connect(auth);
    void peerA.send("job", null, "job-1").catch(() => undefined);
    const contextA = await startedOnA.promise;
    // Node A loses its store (as if killed): no renewal reaches it any more.
    await storeA.close();
    expect(await aborted(contextA.signal)).toMatchObject({ code: "LEASE_LOST" });
    const peerB = await serverB.connect(auth);
    let reply = await peerB.send("job", null, "job-1");
    while (!reply.ok) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      reply = await peerB.send("job", null, "job-1");
    }
    expect(payloadOf(reply)).toBe("B");
    const contextB = await onB.promise;
    expect(contextB.fencingToken).toBeGreaterThan(contextA.fencingToken);
    expect(contextB.signal.aborted).toBe(false);
  });

  it("closing the server aborts running handlers' signals (CLOSED); what they throw then is not stored", async () => {
    const server = await start();
    const started = deferred();
    const reasons: unknown[] = [];
    server.assured.on("long", async (_data: unknown, { signal }) => {
      started.resolve();
      reasons.push(await aborted(signal));
      throw signal.reason;
    });
    const peer = await server.connect(assuredAuth([], "client-1"));
    void peer.send("long", null, "m-1").catch(() => undefined);
    await started.promise;
    expect(await server.assured.close()).toBe(true);
    expect(reasons).toEqual([expect.objectContaining({ code: "CLOSED" })]);
    // The claim was released, nothing stored: the message runs again on the next server.
    const claim = await server.dedupStore.claim(dedupKey("client-1", "m-1"), {
      leaseMs: 1_000,
      fingerprint: "x",
    });
    expect(claim.status).toBe("claimed");
  });
});
