import { AssuredError, decode, MemoryDedupStore } from "@assured/core";
import type { MessageReply } from "@assured/core/protocol";
import type { DedupStore } from "@assured/core/store";
import { afterEach, describe, expect, it } from "vitest";
import { assuredAuth, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
const servers: Started[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
async function start(options: Parameters<typeof startAssured>[0] = {}) {
  const started = await startAssured(options);
  servers.push(started);
  return started;
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const payloadOf = (reply: MessageReply) => decode((reply as { payload: Uint8Array }).payload);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `count` "step" messages (data n, id `m${n}`, seq n + 1); notes the order of replies. */
function sendSteps(peer: Awaited<ReturnType<Started["connect"]>>, count: number) {
  const replied: number[] = [];
  const replies = Array.from({ length: count }, (_, n) =>
    peer.send("step", n, `m${n}`, n + 1).then((reply) => {
      replied.push(n);
      return reply;
    }),
  );
  return { replies, replied };
}

/** A memory dedup store (with batches) recording every call and batch size. */
function recording(store = new MemoryDedupStore()) {
  const calls: string[] = [];
  const observed: DedupStore = {
    capabilities: store.capabilities,
    claim: (key, options) => {
      calls.push("claim");
      return store.claim(key, options);
    },
    complete: (key, token, response, options) => {
      calls.push("complete");
      return store.complete(key, token, response, options);
    },
    release: (key, token) => {
      calls.push("release");
      return store.release(key, token);
    },
    renew: (key, token, leaseMs) => store.renew(key, token, leaseMs),
    claimMany: (requests) => {
      calls.push(`claimMany:${requests.length}`);
      return store.claimMany(requests);
    },
    completeMany: (requests) => {
      calls.push(`completeMany:${requests.length}`);
      return store.completeMany(requests);
    },
    close: () => store.close(),
  };
  return { store: observed, calls };
}

describe("claims ahead and grouped completes (a store with batches)", () => {
  it("G10: claims a socket's queued messages ahead in batches; with maxUnstoredResponses 1 each response is stored before the socket's next handler runs; replies in send order", async () => {
    const { store, calls } = recording();
    const server = await start({ dedupStore: store, limits: { maxUnstoredResponses: 1 } });
    const gate = deferred();
    const ran: number[] = [];
    server.assured.on("step", async (n: number) => {
      ran.push(n);
      calls.push(`run:${n}`);
      if (n === 0) await gate.promise;
      return n * 10;
    });
    const peer = await server.connect(assuredAuth());
    const { replies, replied } = sendSteps(peer, 8);
    await peer.roundTrip();
    await sleep(20);
    expect(ran).toEqual([0]);
    gate.resolve();
    const answers = await Promise.all(replies);
    expect(answers.map(payloadOf)).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(replied).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // Every message was claimed ahead (no single claim), in fewer batches than messages.
    expect(calls.filter((c) => c === "claim" || c === "complete")).toEqual([]);
    const sizes = (prefix: string) =>
      calls.filter((c) => c.startsWith(prefix)).map((c) => Number(c.split(":")[1]));
    expect(sizes("claimMany:").reduce((a, b) => a + b, 0)).toBe(8);
    expect(sizes("claimMany:").length).toBeLessThan(8);
    // With a window of 1 a crash re-runs at most one message per socket: a handler runs only
    // once the previous message's response was stored.
    const order = calls.filter((c) => c.startsWith("run:") || c.startsWith("completeMany:"));
    expect(order).toEqual(
      Array.from({ length: 8 }, (_, n) => [`run:${n}`, "completeMany:1"]).flat(),
    );
  });

  it("G9/G10: the socket's next handlers run while responses are written, at most maxUnstoredResponses of them unstored; each reply leaves once its response is stored, in send order", async () => {
    const { store, calls } = recording();
    const writes = deferred();
    const gated: DedupStore = {
      ...store,
      completeMany: async (requests) => {
        await writes.promise;
        return store.completeMany!(requests);
      },
    };
    const server = await start({ dedupStore: gated, limits: { maxUnstoredResponses: 3 } });
    const ran: number[] = [];
    server.assured.on("step", (n: number) => {
      ran.push(n);
      return n * 10;
    });
    const peer = await server.connect(assuredAuth());
    const { replies, replied } = sendSteps(peer, 8);
    // Three handlers ran; their responses are not stored, so nothing is answered and the
    // fourth waits for room in the window.
    while (ran.length < 3) await sleep(2);
    await peer.roundTrip();
    await sleep(20);
    expect(ran).toEqual([0, 1, 2]);
    expect(replied).toEqual([]);
    writes.resolve();
    const answers = await Promise.all(replies);
    expect(answers.map(payloadOf)).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(replied).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // The socket's responses were written together: fewer writes than messages.
    const completes = calls.filter((c) => c.startsWith("completeMany:"));
    expect(completes.length).toBeLessThan(8);
    expect(completes.reduce((sum, c) => sum + Number(c.split(":")[1]), 0)).toBe(8);
    // Every response is stored (a duplicate is answered from the store).
    const again = await peer.send("step", 0, "m0", 9);
    expect(payloadOf(again)).toBe(0);
    expect(ran).toHaveLength(8);
  });

  it("stores the responses of handlers settling together on several sockets in one completeMany", async () => {
    const { store, calls } = recording();
    const server = await start({ dedupStore: store });
    const gate = deferred();
    let started = 0;
    server.assured.on("wait", async () => {
      started++;
      await gate.promise;
      return "ok";
    });
    const peers = await Promise.all([0, 1, 2].map(() => server.connect(assuredAuth())));
    const replies = peers.map((peer, i) => peer.send("wait", i, `w${i}`, 1));
    while (started < 3) await sleep(5);
    gate.resolve();
    expect((await Promise.all(replies)).map(payloadOf)).toEqual(["ok", "ok", "ok"]);
    expect(calls.filter((c) => c.startsWith("completeMany:"))).toEqual(["completeMany:3"]);
  });

  it("G9: a disconnect releases the keys claimed ahead, so a resend on another socket runs at once (not after the lease)", async () => {
    const { store } = recording();
    const server = await start({ dedupStore: store, limits: { handlerTimeoutMs: 20_000 } });
    const gate = deferred();
    const ran: string[] = [];
    server.assured.on("job", async (name: string) => {
      ran.push(name);
      if (name === "slow") await gate.promise;
      return name;
    });
    const auth = assuredAuth([], "client-1");
    const first = await server.connect(auth);
    void first.send("job", "slow", "m-slow", 1).catch(() => undefined);
    void first.send("job", "queued", "m-queued", 2).catch(() => undefined);
    await first.roundTrip();
    await sleep(20);
    expect(ran).toEqual(["slow"]);
    first.socket.disconnect();
    await sleep(20);
    const second = await server.connect(auth);
    const started = performance.now();
    const reply = await second.send("job", "queued", "m-queued", 1);
    expect(payloadOf(reply)).toBe("queued");
    // The lease is 30 s: a key still held would make the resend wait for it.
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(ran).toEqual(["slow", "queued"]);
    gate.resolve();
  });

  it("G9/G10: a message claimed ahead keeps its lease while a slow handler runs before it: a copy on another socket waits instead of running first", async () => {
    const { store } = recording();
    const server = await start({ dedupStore: store, limits: { leaseMs: 150 } });
    const events: string[] = [];
    server.assured.on("work", async (name: string) => {
      events.push(`start ${name}`);
      if (name === "slow") await sleep(600);
      events.push(`end ${name}`);
      return name;
    });
    const auth = assuredAuth([], "client-1");
    const first = await server.connect(auth);
    const other = await server.connect(auth);
    const slow = first.send("work", "slow", "m-slow", 1);
    const queued = first.send("work", "next", "m-next", 2);
    await first.roundTrip();
    // Several leases later, a copy of the queued message arrives on another socket.
    await sleep(400);
    const copy = other.send("work", "next", "m-next", 1);
    const replies = await Promise.all([slow, queued, copy]);
    expect(replies.map(payloadOf)).toEqual(["slow", "next", "next"]);
    expect(events).toEqual(["start slow", "end slow", "start next", "end next"]);
  });
});

describe("copies of one message claimed ahead (a store with batches)", () => {
  it("G9/G10: a copy queued behind a refused message is not starved by resends of it: a later copy never holds the key an earlier copy waits for", async () => {
    const server = await start({ onError: () => {} });
    const calls: number[] = [];
    const secondCall = deferred();
    const gate = deferred();
    server.assured.on("work", async (n: number) => {
      calls.push(n);
      if (n === 1 && calls.length === 1) {
        throw new AssuredError("STORE_UNAVAILABLE", "fails once, retryably");
      }
      if (n === 1) {
        secondCall.resolve();
        await gate.promise;
      }
      return n * 10;
    });
    const peer = await server.connect(assuredAuth());
    // One window sent twice: the first m1 fails retryably, so the first m2 is refused at its
    // turn (G10) and its claim made ahead is released; the second copies run.
    const first = [peer.send("work", 1, "m1", 1), peer.send("work", 2, "m2", 2)];
    const second = [peer.send("work", 1, "m1", 1), peer.send("work", 2, "m2", 2)];
    await secondCall.promise;
    // While the second m1 runs, the client sends m2 again and again (ack timeouts): each copy
    // is queued behind the second m2, which must still get the key at its turn.
    const resends: Promise<MessageReply>[] = [peer.send("work", 2, "m2", 2)];
    await peer.roundTrip();
    gate.resolve();
    let answered = false;
    void second[1]!.then(() => {
      answered = true;
    });
    for (let i = 0; i < 300 && !answered; i++) {
      resends.push(peer.send("work", 2, "m2", 2));
      await peer.roundTrip();
    }
    expect(answered).toBe(true);
    const [f1, f2] = await Promise.all(first);
    expect([f1!.ok, f2!.ok]).toEqual([false, false]);
    expect((await Promise.all(second)).map(payloadOf)).toEqual([10, 20]);
    expect((await Promise.all(resends)).map(payloadOf)).toEqual(resends.map(() => 20));
    expect(calls).toEqual([1, 1, 2]);
  });
});
