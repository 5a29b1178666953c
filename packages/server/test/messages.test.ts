import { AssuredError, createMemoryBackend, decode, encode, MemoryDedupStore } from "@assured/core";
import { dedupKey, FRAMES, type MessageReply } from "@assured/core/protocol";
import { type DedupStore, newId } from "@assured/core/store";
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

describe("G9: once per (principal, message id)", () => {
  it("G9: a duplicate gets the stored result without rerunning the handler", async () => {
    const server = await start();
    let runs = 0;
    server.assured.on("add", async (data: { a: number; b: number }) => {
      runs++;
      return { sum: data.a + data.b, run: runs };
    });
    const peer = await server.connect(assuredAuth());
    const first = await peer.send("add", { a: 1, b: 2 }, "msg-1");
    const again = await peer.send("add", { a: 1, b: 2 }, "msg-1");
    expect(first).toMatchObject({ id: "msg-1", ok: true });
    expect(payloadOf(first)).toEqual({ sum: 3, run: 1 });
    expect(payloadOf(again)).toEqual({ sum: 3, run: 1 });
    expect(runs).toBe(1);
  });

  it("G9: a duplicate arriving while the first still runs waits for it (other socket, same client)", async () => {
    const server = await start();
    const started = deferred();
    const gate = deferred();
    let runs = 0;
    server.assured.on("slow", async () => {
      runs++;
      started.resolve();
      await gate.promise;
      return "done";
    });
    const auth = assuredAuth([], "client-1");
    const first = await server.connect(auth);
    const reconnected = await server.connect(auth);
    const firstReply = first.send("slow", null, "msg-1");
    await started.promise;
    const secondReply = reconnected.send("slow", null, "msg-1");
    await reconnected.roundTrip();
    gate.resolve();
    const replies = await Promise.all([firstReply, secondReply]);
    expect(replies.map(payloadOf)).toEqual(["done", "done"]);
    expect(runs).toBe(1);
  });

  it("G9: the same id with another payload is IDEMPOTENCY_CONFLICT", async () => {
    const server = await start();
    server.assured.on("echo", async (data) => data);
    const peer = await server.connect(assuredAuth());
    await peer.send("echo", "first", "msg-1");
    const conflict = await peer.send("echo", "second", "msg-1");
    expect(conflict).toEqual({
      id: "msg-1",
      ok: false,
      error: expect.objectContaining({ code: "IDEMPOTENCY_CONFLICT" }),
    });
  });

  it("G9: an application error is stored and returned to duplicates", async () => {
    const server = await start();
    let runs = 0;
    server.assured.on("join", async () => {
      runs++;
      throw Object.assign(new Error("room is full"), { code: "ROOM_FULL" });
    });
    const peer = await server.connect(assuredAuth());
    const first = await peer.send("join", { room: 1 }, "msg-1");
    const again = await peer.send("join", { room: 1 }, "msg-1");
    for (const reply of [first, again]) {
      expect(reply).toMatchObject({ id: "msg-1", ok: false, stored: true });
      expect(payloadOf(reply)).toEqual({
        name: "Error",
        message: "room is full",
        code: "ROOM_FULL",
      });
    }
    expect(runs).toBe(1);
  });

  it("G9: a retryable AssuredError from the handler is not stored; the retry runs again", async () => {
    const server = await start();
    let runs = 0;
    server.assured.on("save", async () => {
      runs++;
      if (runs === 1) throw new AssuredError("STORE_UNAVAILABLE", "database restarting");
      return "saved";
    });
    const peer = await server.connect(assuredAuth());
    expect(await peer.send("save", 1, "msg-1")).toEqual({
      id: "msg-1",
      ok: false,
      error: expect.objectContaining({ code: "STORE_UNAVAILABLE" }),
    });
    expect(payloadOf(await peer.send("save", 1, "msg-1"))).toBe("saved");
    expect(runs).toBe(2);
  });

  it("G9: a handler whose node died leaves its claim to expire; the message then runs once", async () => {
    let now = 1_000_000;
    const clock = () => now;
    const backend = createMemoryBackend();
    const sawPending = deferred();
    const shared = new MemoryDedupStore({ clock, backend });
    const observed: DedupStore = {
      capabilities: shared.capabilities,
      claim: async (key, options) => {
        const claim = await shared.claim(key, options);
        if (claim.status === "pending") sawPending.resolve();
        return claim;
      },
      complete: (...args) => shared.complete(...args),
      release: (...args) => shared.release(...args),
      renew: (...args) => shared.renew(...args),
      close: () => shared.close(),
    };
    const limits = { leaseMs: 5_000 };
    const nodeA = await start({ dedupStore: new MemoryDedupStore({ clock, backend }), limits });
    const nodeB = await start({ dedupStore: observed, limits });
    const hung = deferred();
    const startedOnA = deferred();
    const runs: string[] = [];
    nodeA.assured.on("pay", async () => {
      runs.push("A");
      startedOnA.resolve();
      await hung.promise;
      return "A";
    });
    nodeB.assured.on("pay", async () => {
      runs.push("B");
      return "B";
    });
    const auth = assuredAuth([], "client-1");
    const onA = await nodeA.connect(auth);
    void onA.send("pay", { amount: 5 }, "msg-1").catch(() => undefined);
    await startedOnA.promise;
    onA.socket.disconnect();
    const onB = await nodeB.connect(auth);
    const reply = onB.send("pay", { amount: 5 }, "msg-1");
    await sawPending.promise;
    now += 5_000;
    expect(payloadOf(await reply)).toBe("B");
    expect(payloadOf(await onB.send("pay", { amount: 5 }, "msg-1"))).toBe("B");
    expect(runs).toEqual(["A", "B"]);
    hung.resolve();
  });

  it("G9/G11: a handler hung past handlerTimeoutMs does not block its socket forever: TIMEOUT, then the resend runs it again, once", async () => {
    const server = await start({ limits: { leaseMs: 100, handlerTimeoutMs: 300 } });
    let runs = 0;
    server.assured.on("flaky", async () => {
      runs++;
      if (runs === 1) await new Promise(() => {}); // the first run hangs forever
      return "recovered";
    });
    server.assured.on("next", async () => "next");
    const peer = await server.connect(assuredAuth());
    expect(await peer.send("flaky", null, "m1", 1)).toMatchObject({
      id: "m1",
      ok: false,
      error: { code: "TIMEOUT" },
    });
    // Send order holds: 2 waits for 1, which runs again (its lease expired) and answers.
    expect(await peer.send("next", null, "m2", 2)).toMatchObject({
      ok: false,
      error: { code: "TIMEOUT", details: { waitingForSeq: 1 } },
    });
    expect(payloadOf(await peer.send("flaky", null, "m1", 1))).toBe("recovered");
    expect(payloadOf(await peer.send("next", null, "m2", 2))).toBe("next");
    expect(payloadOf(await peer.send("flaky", null, "m1", 1))).toBe("recovered");
    expect(runs).toBe(2);
  });

  it("a dedup store that is down answers STORE_UNAVAILABLE (retryable) and runs nothing", async () => {
    const inner = new MemoryDedupStore();
    let down = true;
    const check = () => {
      if (down) throw new Error("connect ECONNREFUSED");
    };
    const flaky: DedupStore = {
      capabilities: inner.capabilities,
      claim: async (...args) => {
        check();
        return inner.claim(...args);
      },
      complete: async (...args) => {
        check();
        return inner.complete(...args);
      },
      release: async (...args) => {
        check();
        return inner.release(...args);
      },
      renew: async (...args) => {
        check();
        return inner.renew(...args);
      },
      close: () => inner.close(),
    };
    const server = await start({ dedupStore: flaky });
    let runs = 0;
    server.assured.on("do", async () => ++runs);
    const peer = await server.connect(assuredAuth());
    expect(await peer.send("do", 1, "msg-1")).toMatchObject({
      ok: false,
      error: { code: "STORE_UNAVAILABLE" },
    });
    expect(runs).toBe(0);
    down = false;
    expect(payloadOf(await peer.send("do", 1, "msg-1"))).toBe(1);
    expect(payloadOf(await peer.send("do", 1, "msg-1"))).toBe(1);
    expect(runs).toBe(1);
  });

  it("UNKNOWN_EVENT for an unregistered name, and nothing is stored", async () => {
    const server = await start();
    const peer = await server.connect(assuredAuth([], "client-1"));
    expect(await peer.send("nope", 1, "msg-1")).toEqual({
      id: "msg-1",
      ok: false,
      error: expect.objectContaining({ code: "UNKNOWN_EVENT" }),
    });
    const claim = await server.dedupStore.claim(dedupKey("client-1", "msg-1"), {
      leaseMs: 1000,
      fingerprint: "x",
    });
    expect(claim.status).toBe("claimed");
  });

  it("uses identify() as the principal: dedup follows the user, not the connection", async () => {
    let runs = 0;
    const server = await start({
      identify: (socket) => {
        const user = (socket.handshake.auth as { user?: string }).user;
        if (user === undefined) throw new Error("no session");
        return user;
      },
    });
    const contexts: unknown[] = [];
    server.assured.on("do", async (_data, ctx) => {
      runs++;
      contexts.push({ principal: ctx.principal, id: ctx.id, seq: ctx.seq, socket: ctx.socket.id });
      return runs;
    });
    const tab1 = await server.connect({ ...assuredAuth(), user: "alice" });
    const tab2 = await server.connect({ ...assuredAuth(), user: "alice" });
    const anonymous = await server.connect(assuredAuth());
    expect(payloadOf(await tab1.send("do", 1, "msg-1", 7))).toBe(1);
    expect(payloadOf(await tab2.send("do", 1, "msg-1", 7))).toBe(1);
    expect(contexts).toEqual([{ principal: "alice", id: "msg-1", seq: 7, socket: tab1.socket.id }]);
    expect(await anonymous.send("do", 1, "msg-1")).toMatchObject({
      ok: false,
      error: { code: "UNAUTHORIZED" },
    });
  });

  it("without identify and without a handshake clientId a message is BAD_FRAME", async () => {
    const server = await start();
    server.assured.on("do", async () => 1);
    const peer = await server.connect();
    expect(await peer.send("do", 1)).toMatchObject({ ok: false, error: { code: "BAD_FRAME" } });
  });
});

describe("G10: order and window", () => {
  it("G10: one socket's messages run one at a time in send order while several are in flight", async () => {
    const server = await start();
    const log: string[] = [];
    server.assured.on("step", async (n: number) => {
      log.push(`start ${n}`);
      // Yield to the event loop so a concurrent handler could interleave if the queue let it.
      await new Promise((resolve) => setImmediate(resolve));
      log.push(`end ${n}`);
      return n * 10;
    });
    const peer = await server.connect(assuredAuth());
    const replies = await Promise.all([1, 2, 3, 4, 5].map((n) => peer.send("step", n, newId(), n)));
    expect(replies.map(payloadOf)).toEqual([10, 20, 30, 40, 50]);
    expect(log).toEqual([1, 2, 3, 4, 5].flatMap((n) => [`start ${n}`, `end ${n}`]));
  });

  it("G10: different sockets are not serialized behind each other", async () => {
    const server = await start();
    const gate = deferred();
    server.assured.on("wait", async () => {
      await gate.promise;
      return "released";
    });
    server.assured.on("ping", async () => "pong");
    const slow = await server.connect(assuredAuth());
    const fast = await server.connect(assuredAuth());
    const waiting = slow.send("wait", null);
    expect(payloadOf(await fast.send("ping", null))).toBe("pong");
    gate.resolve();
    expect(payloadOf(await waiting)).toBe("released");
  });

  it("G10: after a retryable refusal, later messages of the window wait for its retry instead of overtaking it", async () => {
    const inner = new MemoryDedupStore();
    let refusals = 1;
    const flaky: DedupStore = {
      capabilities: inner.capabilities,
      claim: async (...args) => {
        if (refusals > 0) {
          refusals--;
          throw new Error("connect ECONNREFUSED");
        }
        return inner.claim(...args);
      },
      complete: (...args) => inner.complete(...args),
      release: (...args) => inner.release(...args),
      renew: (...args) => inner.renew(...args),
      close: () => inner.close(),
    };
    const server = await start({ dedupStore: flaky });
    const runs: number[] = [];
    server.assured.on("step", async (n: number) => {
      runs.push(n);
      return n;
    });
    const peer = await server.connect(assuredAuth());
    const window = await Promise.all([1, 2, 3, 4].map((n) => peer.send("step", n, `m${n}`, n)));
    expect(window[0]).toMatchObject({ id: "m1", ok: false, error: { code: "STORE_UNAVAILABLE" } });
    for (const reply of window.slice(1)) {
      expect(reply).toMatchObject({
        ok: false,
        error: { code: "STORE_UNAVAILABLE", details: { waitingForSeq: 1 } },
      });
    }
    expect(runs).toEqual([]);
    // The client resends in seq order: now every message runs, in send order.
    const resent = await Promise.all([1, 2, 3, 4].map((n) => peer.send("step", n, `m${n}`, n)));
    expect(resent.map(payloadOf)).toEqual([1, 2, 3, 4]);
    expect(runs).toEqual([1, 2, 3, 4]);
  });

  it("G10: a refusal at arrival (full queue) still holds back later messages after an earlier refused message is handled", async () => {
    const inner = new MemoryDedupStore();
    const claimGate = deferred();
    let claimStarted!: () => void;
    const claimRunning = new Promise<void>((resolve) => (claimStarted = resolve));
    let failNext = true;
    const flaky: DedupStore = {
      capabilities: inner.capabilities,
      claim: async (...args) => {
        if (failNext) {
          failNext = false;
          claimStarted();
          await claimGate.promise;
          throw new Error("connect ECONNREFUSED");
        }
        return inner.claim(...args);
      },
      complete: (...args) => inner.complete(...args),
      release: (...args) => inner.release(...args),
      renew: (...args) => inner.renew(...args),
      close: () => inner.close(),
    };
    const server = await start({ dedupStore: flaky, limits: { maxQueuedMessages: 3 } });
    const runs: number[] = [];
    server.assured.on("step", async (n: number) => {
      runs.push(n);
      return n;
    });
    const peer = await server.connect(assuredAuth());
    const send = (n: number) => peer.send("step", n, `m${n}`, n);
    // 1 is running (its claim hangs), 2–4 fill the queue, 5 is refused at arrival.
    const first = [1, 2, 3, 4, 5].map(send);
    await claimRunning;
    expect(await first[4]).toMatchObject({ ok: false, error: { code: "LIMIT_EXCEEDED" } });
    claimGate.resolve(); // 1 fails: STORE_UNAVAILABLE; 2–4 wait for it
    const replies = await Promise.all(first.slice(0, 4));
    expect(replies.map((r) => (r as { error?: { code: string } }).error?.code)).toEqual([
      "STORE_UNAVAILABLE",
      "STORE_UNAVAILABLE",
      "STORE_UNAVAILABLE",
      "STORE_UNAVAILABLE",
    ]);
    // 1–4 come back and are handled; 5 has not come back yet, so 6 must wait for it.
    expect((await Promise.all([1, 2, 3, 4].map(send))).map(payloadOf)).toEqual([1, 2, 3, 4]);
    expect(await send(6)).toMatchObject({
      ok: false,
      error: { code: "LIMIT_EXCEEDED", details: { waitingForSeq: 5 } },
    });
    expect((await Promise.all([5, 6].map(send))).map(payloadOf)).toEqual([5, 6]);
    expect(runs).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("G10: a message refused as RATE_LIMITED holds back later ones until it is handled", async () => {
    // A message costs 3 tokens: one fits, and one more after 300 ms.
    const server = await start({ limits: { burstTokens: 3, tokensPerSecond: 12 } });
    const runs: number[] = [];
    server.assured.on("step", async (n: number) => {
      runs.push(n);
      return n;
    });
    const peer = await server.connect(assuredAuth());
    // The one token goes to seq 1; seq 2 is rate limited; seq 3 arrives once a token is back.
    const first = await Promise.all([1, 2].map((n) => peer.send("step", n, `m${n}`, n)));
    expect(first.map((r) => r.ok)).toEqual([true, false]);
    expect(first[1]).toMatchObject({ error: { code: "RATE_LIMITED" } });
    await new Promise((resolve) => setTimeout(resolve, 300)); // time for the bucket to refill a token
    expect(await peer.send("step", 3, "m3", 3)).toMatchObject({
      ok: false,
      error: { code: "RATE_LIMITED", details: { waitingForSeq: 2 } },
    });
    expect(runs).toEqual([1]);
  });

  it("G11: beyond maxQueuedMessages a message is LIMIT_EXCEEDED (retryable)", async () => {
    const server = await start({ limits: { maxQueuedMessages: 2 } });
    const gate = deferred();
    server.assured.on("wait", async () => {
      await gate.promise;
      return "ok";
    });
    const peer = await server.connect(assuredAuth());
    const replies = [1, 2, 3, 4].map((n) => peer.send("wait", n, `m${n}`, n));
    const rejected = await replies[3]!;
    expect(rejected).toMatchObject({ id: "m4", ok: false, error: { code: "LIMIT_EXCEEDED" } });
    gate.resolve();
    expect((await Promise.all(replies.slice(0, 3))).map((r) => r.ok)).toEqual([true, true, true]);
  });
});

describe("G12: bad messages", () => {
  it("G12: oversized, undecodable and malformed messages get typed replies and store nothing", async () => {
    const server = await start({ limits: { maxPayloadBytes: 64 } });
    let runs = 0;
    server.assured.on("do", async () => ++runs);
    const peer = await server.connect(assuredAuth([], "client-1"));
    const send = (frame: unknown) => peer.request<MessageReply>(FRAMES.message, frame);
    const ok = { id: "m", seq: 1, name: "do", payload: encode(1) };
    const cases: [unknown, string][] = [
      [{ ...ok, payload: encode("x".repeat(100)) }, "PAYLOAD_TOO_LARGE"],
      [{ ...ok, payload: new Uint8Array([0xc1]) }, "CODEC_ERROR"],
      [{ ...ok, payload: "not binary" }, "BAD_FRAME"],
      [{ ...ok, id: "" }, "INVALID_ARGUMENT"],
      [{ ...ok, id: 5 }, "INVALID_ARGUMENT"],
      [{ ...ok, seq: -1 }, "BAD_FRAME"],
      [{ ...ok, seq: "1" }, "BAD_FRAME"],
      [{ ...ok, name: "" }, "INVALID_ARGUMENT"],
      [[1, 2, 3], "BAD_FRAME"],
      ["garbage", "BAD_FRAME"],
      [null, "BAD_FRAME"],
    ];
    for (const [frame, code] of cases) {
      expect(await send(frame), JSON.stringify(frame)).toMatchObject({
        ok: false,
        error: { code },
      });
    }
    expect(runs).toBe(0);
    expect(
      (await server.dedupStore.claim(dedupKey("client-1", "m"), { leaseMs: 10, fingerprint: "x" }))
        .status,
    ).toBe("claimed");
  });
});
