import { describe, expect, it } from "vitest";
import { decode, encode, isAssuredError } from "../src/index.js";
import {
  type ClientStorage,
  DEFAULT_RETRY_POLICY,
  memoryStorage,
  Outbox,
  type OutboxOptions,
} from "../src/protocol-entry.js";

const T0 = 1_000_000;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const half = () => 0.5;

function ok(id: string, value: unknown = "done") {
  return { id, ok: true, payload: encode(value) };
}

function failure(id: string, code: string) {
  return { id, ok: false, error: { code, message: code } };
}

async function openOnline(options: OutboxOptions = {}): Promise<Outbox> {
  const outbox = await Outbox.open({ random: half, ...options }, T0);
  outbox.connected();
  return outbox;
}

/** A storage that records every write, to check what was persisted when. */
function recordingStorage(): ClientStorage & { log: string[] } {
  const inner = memoryStorage();
  const log: string[] = [];
  return {
    log,
    get: (key) => inner.get(key),
    set: async (key, value) => {
      log.push(`set ${key}`);
      await inner.set(key, value);
    },
    remove: async (key) => {
      log.push(`remove ${key}`);
      await inner.remove(key);
    },
  };
}

describe("Outbox", () => {
  it("G8: add writes the message to storage before it can be sent", async () => {
    const storage = recordingStorage();
    const outbox = await openOnline({ storage });
    const adding = outbox.add("chat:send", encode({ text: "hi" }), T0);
    expect(outbox.due(T0)).toEqual([]);
    const message = await adding;
    expect(storage.log).toContain(`set assured:msg:${message.id}`);
    expect(await storage.get(`assured:msg:${message.id}`)).not.toBeNull();
    expect(outbox.due(T0).map((m) => m.id)).toEqual([message.id]);
  });

  it("G10: seq is dense per session (1, 2, 3…); a reload starts a new session with the same client id", async () => {
    const storage = memoryStorage();
    const first = await openOnline({ storage });
    expect(first.firstSeq()).toBe(1);
    const a = await first.add("x", encode(1), T0);
    const b = await first.add("x", encode(2), T0);
    expect([a.seq, b.seq]).toEqual([1, 2]);
    expect(first.firstSeq()).toBe(1);
    first.acked(ok(a.id), T0);
    expect(first.firstSeq()).toBe(2);
    first.acked(ok(b.id), T0);
    expect(first.firstSeq()).toBe(3);
    await first.close();
    const second = await openOnline({ storage });
    expect(second.clientId).toBe(first.clientId);
    expect((await second.add("x", encode(3), T0)).seq).toBe(1);
  });

  it("G10: sends at most `window` messages at once, in seq order; acks free the window", async () => {
    const outbox = await openOnline({ window: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await outbox.add("x", encode(i), T0)).id);
    expect(outbox.due(T0).map((m) => m.seq)).toEqual([1, 2]);
    expect(outbox.due(T0)).toEqual([]);
    outbox.acked(ok(ids[1]!), T0);
    expect(outbox.due(T0).map((m) => m.seq)).toEqual([3]);
    outbox.acked(ok(ids[0]!), T0);
    outbox.acked(ok(ids[2]!), T0);
    expect(outbox.due(T0).map((m) => m.seq)).toEqual([4, 5]);
  });

  it("G8: an unanswered message is sent again after the ack timeout, with backoff", async () => {
    const outbox = await openOnline({
      ackTimeoutMs: 1000,
      retry: { initialMs: 400, maxMs: 10_000, factor: 2 },
    });
    const m = await outbox.add("x", encode(1), T0);
    expect(outbox.due(T0)).toHaveLength(1);
    expect(outbox.nextWakeAt()).toBe(T0 + 1000);
    expect(outbox.due(T0 + 999)).toEqual([]);
    // Overdue at T0 + 1000: first retry waits 0.5 * 400 = 200 ms.
    expect(outbox.due(T0 + 1000)).toEqual([]);
    expect(outbox.nextWakeAt()).toBe(T0 + 1200);
    expect(outbox.due(T0 + 1200).map((x) => x.id)).toEqual([m.id]);
    expect(outbox.nextWakeAt()).toBe(T0 + 2200);
  });

  it("G8: retryable errors are retried with exponential backoff and full jitter", async () => {
    const rolls = [0.25, 1, 0.5];
    const outbox = await openOnline({
      random: () => rolls.shift() ?? 0,
      retry: { initialMs: 100, maxMs: 250, factor: 2 },
    });
    const m = await outbox.add("x", encode(1), T0);
    const times: number[] = [];
    let now = T0;
    for (const code of ["RATE_LIMITED", "STORE_UNAVAILABLE", "TIMEOUT"]) {
      expect(outbox.due(now)).toHaveLength(1);
      const outcome = outbox.acked(failure(m.id, code), now);
      expect(outcome.kind).toBe("retry");
      now = outbox.nextWakeAt()!;
      times.push(now);
    }
    // Bounds 100, 200, 250 (capped) times 0.25, 1, 0.5.
    expect(times.map((t, i) => t - (i === 0 ? T0 : times[i - 1]!))).toEqual([25, 200, 125]);
  });

  it("G9: results, stored application errors and final protocol errors finish a message", async () => {
    const outbox = await openOnline();
    const a = await outbox.add("x", encode(1), T0);
    const b = await outbox.add("x", encode(2), T0);
    const c = await outbox.add("x", encode(3), T0);
    outbox.due(T0);
    const ra = outbox.acked(ok(a.id, { n: 1 }), T0);
    const rb = outbox.acked(
      { id: b.id, ok: false, stored: true, payload: encode({ message: "no" }) },
      T0,
    );
    const rc = outbox.acked(failure(c.id, "IDEMPOTENCY_CONFLICT"), T0);
    expect(ra.kind === "settled" && ra.result.ok && decode(ra.result.payload)).toEqual({ n: 1 });
    expect(rb).toMatchObject({ kind: "settled", result: { ok: false, stored: true } });
    expect(rc).toMatchObject({
      kind: "settled",
      result: { ok: false, error: { code: "IDEMPOTENCY_CONFLICT" } },
    });
    expect(outbox.size).toBe(0);
    expect(outbox.acked(ok(a.id), T0)).toEqual({ kind: "ignored" });
  });

  it("QUOTA_EXCEEDED (a principal's dedup quota) is final and holds back no later message", async () => {
    const outbox = await openOnline({ window: 1 });
    const a = await outbox.add("x", encode(1), T0);
    await outbox.add("x", encode(2), T0);
    expect(outbox.due(T0).map((m) => m.seq)).toEqual([1]);
    expect(outbox.acked(failure(a.id, "QUOTA_EXCEEDED"), T0)).toMatchObject({
      kind: "settled",
      result: { ok: false, error: { code: "QUOTA_EXCEEDED" } },
    });
    expect(outbox.due(T0).map((m) => m.seq)).toEqual([2]);
  });

  it("G10: a message waiting for a retry holds back later messages not yet sent", async () => {
    const outbox = await openOnline({ window: 2 });
    const a = await outbox.add("x", encode(1), T0);
    await outbox.add("x", encode(2), T0);
    await outbox.add("x", encode(3), T0);
    expect(outbox.due(T0).map((m) => m.seq)).toEqual([1, 2]);
    outbox.acked(failure(a.id, "RATE_LIMITED"), T0);
    expect(outbox.due(T0)).toEqual([]);
    const wake = outbox.nextWakeAt()!;
    expect(outbox.due(wake).map((m) => m.seq)).toEqual([1]);
  });

  it("G10: a message refused only to wait for an earlier one goes right after it, without its own backoff", async () => {
    const outbox = await openOnline({ window: 3 });
    const a = await outbox.add("x", encode(1), T0);
    const b = await outbox.add("x", encode(2), T0);
    await outbox.add("x", encode(3), T0);
    expect(outbox.due(T0).map((m) => m.seq)).toEqual([1, 2, 3]);
    outbox.acked(failure(a.id, "STORE_UNAVAILABLE"), T0);
    const waiting = {
      id: b.id,
      ok: false,
      error: { code: "STORE_UNAVAILABLE", message: "wait", details: { waitingForSeq: 1 } },
    };
    expect(outbox.acked(waiting, T0)).toEqual({
      kind: "retry",
      id: b.id,
      error: waiting.error,
      at: 0,
    });
    expect(outbox.due(T0)).toEqual([]);
    // When the first one's backoff is over, the second follows at once, in seq order.
    const wake = outbox.nextWakeAt()!;
    expect(outbox.due(wake).map((m) => m.seq)).toEqual([1, 2]);
    // Without an earlier pending message, the refusal backs off like any retryable error.
    outbox.acked(ok(a.id), wake);
    const lone = outbox.acked({ ...waiting, id: b.id }, wake);
    expect(lone).toMatchObject({ kind: "retry" });
    expect((lone as { at: number }).at).toBeGreaterThan(wake);
  });

  it("G11: a payload above maxPayloadBytes is refused with PAYLOAD_TOO_LARGE before it is stored", async () => {
    const storage = recordingStorage();
    const outbox = await openOnline({ storage, maxPayloadBytes: 16 });
    const writes = storage.log.length;
    await expect(outbox.add("x", new Uint8Array(17), T0)).rejects.toMatchObject({
      code: "PAYLOAD_TOO_LARGE",
    });
    expect(storage.log.length).toBe(writes);
    expect(outbox.size).toBe(0);
    await outbox.add("x", new Uint8Array(16), T0);
    expect(outbox.size).toBe(1);
  });

  it("a stored message above maxPayloadBytes (from a page life with a larger limit) is finished with PAYLOAD_TOO_LARGE, not sent", async () => {
    const storage = memoryStorage();
    const before = await openOnline({ storage, maxPayloadBytes: 64 });
    const big = await before.add("x", new Uint8Array(40), T0);
    const small = await before.add("x", new Uint8Array(8), T0);
    await before.close();
    const after = await openOnline({ storage, maxPayloadBytes: 16 });
    expect(after.pending().map((m) => m.id)).toEqual([small.id]);
    expect(after.due(T0).map((m) => m.id)).toEqual([small.id]);
    expect(await after.result(big.id, T0)).toMatchObject({
      ok: false,
      error: { code: "PAYLOAD_TOO_LARGE" },
    });
    await after.flush();
    expect(await storage.get(`assured:msg:${big.id}`)).toBeNull();
  });

  it("G8: everything unanswered is sent again on reconnect, in seq order", async () => {
    const outbox = await openOnline({ window: 2 });
    for (let i = 0; i < 3; i++) await outbox.add("x", encode(i), T0);
    expect(outbox.due(T0).map((m) => m.seq)).toEqual([1, 2]);
    outbox.disconnected();
    expect(outbox.due(T0)).toEqual([]);
    expect(outbox.nextWakeAt()).toBeNull();
    outbox.connected();
    expect(outbox.due(T0 + 1).map((m) => m.seq)).toEqual([1, 2]);
  });

  it("G8: a reload restores unanswered messages (new seqs in the new session) and results from storage", async () => {
    const storage = memoryStorage();
    const first = await openOnline({ storage });
    const done = await first.add("x", encode("a"), T0);
    const open1 = await first.add("y", encode(new Uint8Array([1, 2, 255])), T0);
    const open2 = await first.add("z", encode("c"), T0);
    first.due(T0);
    first.acked(ok(done.id, "result-a"), T0 + 5);
    await first.close();

    const second = await openOnline({ storage });
    expect(second.pending().map((m) => [m.id, m.seq, m.name, m.createdAt])).toEqual([
      [open1.id, 1, "y", T0],
      [open2.id, 2, "z", T0],
    ]);
    expect(second.firstSeq()).toBe(1);
    expect(decode(second.pending()[0]!.payload)).toEqual(new Uint8Array([1, 2, 255]));
    const result = await second.result(done.id, T0 + 10);
    expect(result?.ok && !result.omitted && decode(result.payload)).toBe("result-a");
    expect(second.due(T0).map((m) => m.seq)).toEqual([1, 2]);
    second.acked(ok(open1.id), T0);
    second.acked(ok(open2.id), T0);
    await second.close();
    expect(await storage.get(`assured:msg:${open1.id}`)).toBeNull();
    const third = await openOnline({ storage });
    expect(third.pending()).toEqual([]);
  });

  it("G11: a burst of adds and acks writes the head record and results a few times, not once per message", async () => {
    const storage = recordingStorage();
    const outbox = await openOnline({ storage, window: 200, maxPending: 200 });
    const before = storage.log.length;
    const messages = await Promise.all(range(200).map((n) => outbox.add("x", encode(n), T0)));
    const records = () =>
      storage.log.slice(before).filter((l) => l.startsWith("set assured:session:"));
    expect(storage.log.filter((l) => l.startsWith("set assured:msg:"))).toHaveLength(200);
    expect(records().length).toBeLessThanOrEqual(3);
    expect(outbox.due(T0)).toHaveLength(200);
    for (const m of messages) outbox.acked(ok(m.id), T0);
    await outbox.flush();
    expect(records().length).toBeLessThanOrEqual(6);
    expect(storage.log.filter((l) => l.startsWith("set assured:result:"))).toHaveLength(100);
    expect(storage.log.filter((l) => l.startsWith("remove assured:msg:"))).toHaveLength(200);
    // Nothing is lost by coalescing: a reload sees no unanswered message and the last results.
    await outbox.close();
    const reloaded = await openOnline({ storage });
    expect(reloaded.pending()).toEqual([]);
    expect(await reloaded.result(messages[199]!.id, T0)).toMatchObject({ ok: true });
  });

  it("G11: maxPending bounds the outbox: add beyond it rejects with LIMIT_EXCEEDED", async () => {
    const outbox = await openOnline({ maxPending: 2 });
    const a = await outbox.add("x", encode(1), T0);
    await outbox.add("x", encode(2), T0);
    await expect(outbox.add("x", encode(3), T0)).rejects.toMatchObject({ code: "LIMIT_EXCEEDED" });
    outbox.due(T0);
    outbox.acked(ok(a.id), T0);
    await expect(outbox.add("x", encode(3), T0)).resolves.toMatchObject({ seq: 3 });
  });

  it("G11: results are bounded by count and expire after their TTL", async () => {
    const outbox = await openOnline({ maxResults: 2, resultTtlMs: 1000 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await outbox.add("x", encode(i), T0)).id);
    outbox.due(T0);
    for (const id of ids) outbox.acked(ok(id), T0);
    expect(await outbox.result(ids[0]!, T0)).toBeUndefined();
    expect(await outbox.result(ids[2]!, T0)).toBeDefined();
    expect(await outbox.result(ids[2]!, T0 + 1001)).toBeUndefined();
  });

  it("a storage write failure rejects add and the message is never sent", async () => {
    const failing: ClientStorage = {
      get: async () => null,
      set: async (key) => {
        if (key.includes(":msg:")) throw new Error("quota exceeded");
      },
      remove: async () => {},
    };
    const outbox = await openOnline({ storage: failing });
    const error = await outbox.add("x", encode(1), T0).catch((e) => e);
    expect(isAssuredError(error, "STORE_UNAVAILABLE")).toBe(true);
    expect(outbox.due(T0)).toEqual([]);
    expect(outbox.size).toBe(0);
  });

  it("unreadable stored data is reported and skipped, not fatal", async () => {
    const storage = memoryStorage();
    await storage.set("assured:sessions", "{not json");
    const reported: string[] = [];
    const outbox = await Outbox.open({ storage, onStorageError: (e) => reported.push(e.code) }, T0);
    expect(reported).toEqual(["CODEC_ERROR"]);
    expect(outbox.clientId).toMatch(/^[\w-]{21}$/);
  });

  it("an unanswered id added again returns the same message", async () => {
    const outbox = await openOnline();
    const a = await outbox.add("x", encode(1), T0, "my-key");
    const b = await outbox.add("x", encode(1), T0, "my-key");
    expect(b).toBe(a);
    expect(outbox.size).toBe(1);
  });

  it("G9: the same unanswered id with another payload or name is IDEMPOTENCY_CONFLICT, not silently the first message", async () => {
    const outbox = await openOnline();
    await outbox.add("x", encode(1), T0, "my-key");
    await expect(outbox.add("x", encode(2), T0, "my-key")).rejects.toMatchObject({
      code: "IDEMPOTENCY_CONFLICT",
    });
    await expect(outbox.add("y", encode(1), T0, "my-key")).rejects.toMatchObject({
      code: "IDEMPOTENCY_CONFLICT",
    });
    expect(outbox.size).toBe(1);
  });

  it("G12: validates arguments and options", async () => {
    await expect(Outbox.open({ window: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(Outbox.open({ maxPayloadBytes: -1 })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(
      Outbox.open({ retry: { ...DEFAULT_RETRY_POLICY, factor: 0.5 } }),
    ).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    const outbox = await openOnline();
    await expect(outbox.add("", encode(1), T0)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(outbox.add("x", "bytes" as never, T0)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    expect(outbox.acked("garbage", T0)).toEqual({ kind: "ignored" });
  });

  it("accepts a reply payload that arrives as an ArrayBuffer (browsers)", async () => {
    const outbox = await openOnline();
    const m = await outbox.add("x", encode(1), T0);
    outbox.due(T0);
    const bytes = encode({ fine: true });
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const outcome = outbox.acked({ id: m.id, ok: true, payload: buffer }, T0);
    expect(
      outcome.kind === "settled" && outcome.result.ok && decode(outcome.result.payload),
    ).toEqual({
      fine: true,
    });
  });

  it("a malformed reply to a known id is a final BAD_FRAME", async () => {
    const outbox = await openOnline();
    const m = await outbox.add("x", encode(1), T0);
    outbox.due(T0);
    expect(outbox.acked({ id: m.id, ok: "yes" }, T0)).toMatchObject({
      kind: "settled",
      result: { ok: false, error: { code: "BAD_FRAME" } },
    });
  });
});
