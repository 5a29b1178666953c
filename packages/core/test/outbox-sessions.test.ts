import { afterEach, describe, expect, it, vi } from "vitest";
import { decode, encode, isAssuredError } from "../src/index.js";
import { DEFAULT_ADOPT_GRACE_MS, outboxConfig } from "../src/outbox-options.js";
import {
  type ClientLocks,
  type ClientStorage,
  memoryLocks,
  Outbox,
  type OutboxChannel,
  type OutboxOptions,
  type OutboxTimers,
  type StorageWrite,
} from "../src/protocol-entry.js";

const T0 = 1_000_000;
const half = () => 0.5;
const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

type TestStorage = ClientStorage & {
  data: Map<string, string>;
  keys(): string[];
  /** Writes for which this returns true throw a quota error. */
  refuse: (key: string, value: string) => boolean;
  batches: number;
};

/** A memory storage (with or without `batch`) whose keys can be listed and whose writes can fail. */
function testStorage(options: { batch?: boolean; quota?: number } = {}): TestStorage {
  const data = new Map<string, string>();
  const quota = options.quota ?? Number.POSITIVE_INFINITY;
  const check = (key: string, value: string) => {
    if (value.length > quota || storage.refuse(key, value)) {
      throw new DOMException(`cannot store ${key}`, "QuotaExceededError");
    }
  };
  const storage: TestStorage = {
    data,
    keys: () => [...data.keys()].sort(),
    refuse: () => false,
    batches: 0,
    get: async (key) => data.get(key) ?? null,
    set: async (key, value) => {
      check(key, value);
      data.set(key, value);
    },
    remove: async (key) => {
      data.delete(key);
    },
  };
  if (options.batch !== false) {
    storage.batch = async (writes: readonly StorageWrite[]) => {
      storage.batches++;
      for (const { key, value } of writes) if (value !== null) check(key, value);
      for (const { key, value } of writes) {
        if (value === null) data.delete(key);
        else data.set(key, value);
      }
    };
  }
  return storage;
}

interface Tab {
  locks: ClientLocks;
  storage: ClientStorage;
  /** The tab dies: its locks are released, its storage calls and lock requests never return. */
  crash(): void;
}

/** Browser tabs sharing one storage and one lock manager. */
function tabsOf(storage: ClientStorage, shared: ClientLocks = memoryLocks()): () => Tab {
  return () => {
    let crashed = false;
    let drop!: () => void;
    const dropped = new Promise<void>((resolve) => {
      drop = resolve;
    });
    const never = <T>() => new Promise<T>(() => {});
    const locks: ClientLocks = {
      request<T>(
        name: string,
        options: { ifAvailable?: boolean },
        task: (g: boolean) => Promise<T>,
      ) {
        if (crashed) return never<T>();
        return new Promise<T>((resolve, reject) => {
          shared
            .request(name, options, async (granted) => {
              if (crashed) return;
              const run = task(granted);
              run.then(resolve, reject);
              await Promise.race([run.catch(() => {}), dropped]);
            })
            .catch(reject);
        });
      },
    };
    const view: ClientStorage = {
      get: (key) => (crashed ? never() : storage.get(key)),
      set: (key, value) => (crashed ? never() : storage.set(key, value)),
      remove: (key) => (crashed ? never() : storage.remove(key)),
      ...(storage.batch ? { batch: (writes) => (crashed ? never() : storage.batch!(writes)) } : {}),
    };
    return {
      locks,
      storage: view,
      crash() {
        crashed = true;
        drop();
      },
    };
  };
}

/** An in-memory `BroadcastChannel` bus (delivery in a microtask, never to the sender). */
function bus(): (name: string) => OutboxChannel {
  const open = new Set<OutboxChannel & { name: string }>();
  return (name) => {
    const channel: OutboxChannel & { name: string } = {
      name,
      onmessage: null,
      postMessage(data) {
        for (const other of open) {
          if (other !== channel && other.name === name) {
            queueMicrotask(() => other.onmessage?.({ data }));
          }
        }
      },
      close() {
        open.delete(channel);
      },
    };
    open.add(channel);
    return channel;
  };
}

function ok(id: string, value: unknown = "done") {
  return { id, ok: true, payload: encode(value) };
}

async function open(options: OutboxOptions): Promise<Outbox> {
  const outbox = await Outbox.open({ random: half, channel: null, ...options }, T0);
  outbox.connected();
  return outbox;
}

/** The session ids in storage: the index and the session records. */
function sessions(storage: TestStorage): { index: string[]; records: string[] } {
  return {
    index: JSON.parse(storage.data.get("assured:sessions") ?? "[]"),
    records: storage
      .keys()
      .filter((k) => k.startsWith("assured:session:"))
      .map((k) => k.slice("assured:session:".length)),
  };
}

const waitFor = (check: () => boolean) =>
  vi.waitFor(() => {
    if (!check()) throw new Error("not yet");
  });

describe("Outbox sessions: several outboxes on one storage", () => {
  it("two outboxes keep separate sessions with dense seqs; every message survives a reload", async () => {
    const storage = testStorage();
    const a = await open({ storage });
    const b = await open({ storage });
    expect(b.clientId).toBe(a.clientId);
    const added = [];
    for (let i = 0; i < 3; i++) {
      added.push(await a.add("x", encode(`a${i}`), T0));
      added.push(await b.add("x", encode(`b${i}`), T0));
    }
    expect(a.pending().map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(b.pending().map((m) => m.seq)).toEqual([1, 2, 3]);
    for (const m of added) expect(storage.data.has(`assured:msg:${m.id}`)).toBe(true);
    expect(sessions(storage).records).toHaveLength(2);
    a.due(T0);
    a.acked(ok(added[0]!.id, "first"), T0);

    await a.close();
    await b.close();
    const c = await open({ storage });
    // Adopted in index order (a's session, then b's), with new dense seqs in c's session.
    const expected = [added[2], added[4], added[1], added[3], added[5]].map((m) => m!.id);
    expect(c.pending().map((m) => m.id)).toEqual(expected);
    expect(c.pending().map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(c.pending().map((m) => decode(m.payload))).toEqual(["a1", "a2", "b0", "b1", "b2"]);
    const result = await c.result(added[0]!.id, T0);
    expect(result?.ok && !result.omitted && decode(result.payload)).toBe("first");
    // Nothing of the old sessions is left in storage.
    const { index, records } = sessions(storage);
    expect(index).toHaveLength(1);
    expect(records).toEqual(index);
    expect(storage.keys()).toEqual(
      [
        "assured:client",
        "assured:sessions",
        `assured:session:${index[0]}`,
        `assured:result:${added[0]!.id}`,
        ...expected.map((id) => `assured:msg:${id}`),
      ].sort(),
    );
  });

  it("results are stored per message: settles in two tabs do not overwrite each other, any tab reads them", async () => {
    const storage = testStorage();
    const a = await open({ storage });
    const b = await open({ storage });
    const ma = await a.add("x", encode(1), T0);
    const mb = await b.add("x", encode(2), T0);
    a.due(T0);
    b.due(T0);
    a.acked(ok(ma.id, "ra"), T0);
    b.acked(ok(mb.id, "rb"), T0);
    await Promise.all([a.flush(), b.flush()]);
    const ra = await b.result(ma.id, T0);
    const rb = await a.result(mb.id, T0);
    expect(ra?.ok && !ra.omitted && decode(ra.payload)).toBe("ra");
    expect(rb?.ok && !rb.omitted && decode(rb.payload)).toBe("rb");
  });

  it("a session whose owner crashed is adopted by the next outbox to open", async () => {
    const storage = testStorage();
    const locks = memoryLocks();
    const tab = tabsOf(storage, locks)();
    const a = await open({ storage: tab.storage, locks: tab.locks });
    const m1 = await a.add("x", encode(1), T0 + 1);
    const m2 = await a.add("y", encode(2), T0 + 2);
    tab.crash();
    const b = await open({ storage, locks });
    expect(b.pending().map((m) => [m.id, m.seq, m.name, m.createdAt])).toEqual([
      [m1.id, 1, "x", T0 + 1],
      [m2.id, 2, "y", T0 + 2],
    ]);
    expect(b.firstSeq()).toBe(1);
    expect(sessions(storage).records).toHaveLength(1);
    expect(sessions(storage).index).toHaveLength(1);
  });

  it("a live session is not adopted: its lock is held", async () => {
    const storage = testStorage();
    const a = await open({ storage });
    await a.add("x", encode(1), T0);
    const b = await open({ storage });
    expect(b.pending()).toEqual([]);
    expect(sessions(storage).records).toHaveLength(1);
  });

  it("an open outbox adopts a session closed later (its queued lock request is granted) and calls onChange", async () => {
    const storage = testStorage();
    let changes = 0;
    const b = await open({ storage });
    // a knows b from the index when it opens (later sessions: see the channel tests).
    const a = await open({ storage, onChange: () => changes++ });
    const own = await a.add("x", encode("own"), T0);
    const m1 = await b.add("x", encode(1), T0);
    const m2 = await b.add("x", encode(2), T0);
    expect(a.due(T0).map((f) => f.seq)).toEqual([1]);
    await b.close();
    await waitFor(() => changes > 0);
    await a.flush();
    expect(changes).toBe(1);
    expect(a.pending().map((m) => [m.id, m.seq])).toEqual([
      [own.id, 1],
      [m1.id, 2],
      [m2.id, 3],
    ]);
    expect(a.due(T0).map((f) => f.seq)).toEqual([2, 3]);
    expect(sessions(storage).index).toHaveLength(1);
    expect(sessions(storage).records).toHaveLength(1);
  });

  it("an open outbox learns of sessions started after it from the channel and adopts one that crashes", async () => {
    const storage = testStorage();
    const shared = memoryLocks();
    const tabs = tabsOf(storage, shared);
    const channel = bus();
    let changes = 0;
    const a = await open({ storage, locks: shared, channel, onChange: () => changes++ });
    const tab = tabs();
    const b = await open({ storage: tab.storage, locks: tab.locks, channel });
    const m = await b.add("x", encode(1), T0);
    await tick();
    tab.crash();
    await waitFor(() => changes > 0);
    expect(a.pending().map((x) => [x.id, x.seq])).toEqual([[m.id, 1]]);
  });

  it("without a channel, the index is re-read every adoptIntervalMs (injected timers)", async () => {
    const storage = testStorage();
    const shared = memoryLocks();
    const timers: Array<{ callback: () => void; ms: number }> = [];
    const fake: OutboxTimers = {
      setTimeout: (callback, ms) => timers.push({ callback, ms }),
      clearTimeout: () => {},
    };
    let changes = 0;
    const a = await open({
      storage,
      locks: shared,
      timers: fake,
      adoptIntervalMs: 5000,
      onChange: () => changes++,
    });
    expect(timers.map((t) => t.ms)).toEqual([5000]);
    const tab = tabsOf(storage, shared)();
    const b = await open({ storage: tab.storage, locks: tab.locks });
    const m = await b.add("x", encode(1), T0);
    tab.crash();
    await tick();
    expect(changes).toBe(0);
    timers.shift()!.callback();
    await waitFor(() => changes > 0);
    expect(a.pending().map((x) => x.id)).toEqual([m.id]);
  });

  it("with the runtime's BroadcastChannel (the default) an open outbox adopts a later session that crashes", async () => {
    const storage = testStorage();
    const shared = memoryLocks();
    const prefix = `bc-${Math.random()}:`;
    let changes = 0;
    const a = await Outbox.open({ storage, locks: shared, prefix, onChange: () => changes++ }, T0);
    const tab = tabsOf(storage, shared)();
    const b = await Outbox.open({ storage: tab.storage, locks: tab.locks, prefix }, T0);
    const m = await b.add("x", encode(1), T0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    tab.crash();
    await waitFor(() => changes > 0);
    expect(a.pending().map((x) => x.id)).toEqual([m.id]);
    await a.close();
  });

  it("an id already pending is not added twice when two orphaned records list it", async () => {
    const storage = testStorage();
    const locks = memoryLocks();
    const tab = tabsOf(storage, locks)();
    const a = await open({ storage: tab.storage, locks: tab.locks });
    const m = await a.add("x", encode(1), T0, "the-key");
    tab.crash();
    // A crashed adopter left a second record listing the same message.
    const index = JSON.parse(storage.data.get("assured:sessions")!);
    await storage.set("assured:sessions", JSON.stringify([...index, "zombie"]));
    await storage.set(
      "assured:session:zombie",
      JSON.stringify({ v: 2, seq: 1, ids: ["the-key"], results: [] }),
    );
    const b = await open({ storage, locks });
    expect(b.pending().map((x) => [x.id, x.seq])).toEqual([[m.id, 1]]);
    expect(sessions(storage).records).toHaveLength(1);
    expect(sessions(storage).index).toHaveLength(1);
  });

  it("close() releases the session, rejects later adds with CLOSED and ignores replies", async () => {
    const storage = testStorage();
    const a = await open({ storage });
    const m = await a.add("x", encode(1), T0);
    expect(a.due(T0)).toHaveLength(1);
    await a.close();
    await a.close();
    await expect(a.add("x", encode(2), T0)).rejects.toMatchObject({ code: "CLOSED" });
    expect(a.acked(ok(m.id), T0)).toEqual({ kind: "ignored" });
    expect(a.due(T0)).toEqual([]);
    const b = await open({ storage });
    expect(b.pending().map((x) => x.id)).toEqual([m.id]);
  });
});

describe.each([
  ["with batch", true],
  ["without batch", false],
])("Outbox storage failures (%s)", (_, batch) => {
  it("a result larger than storage accepts is reported, recorded as finished, and blocks nothing", async () => {
    const storage = testStorage({ batch, quota: 2000 });
    const errors: string[] = [];
    const a = await open({ storage, onStorageError: (e) => errors.push(e.code) });
    const big = await a.add("x", encode(1), T0);
    a.due(T0);
    const huge = new Uint8Array(5000).fill(7);
    expect(a.acked({ id: big.id, ok: true, payload: huge }, T0)).toMatchObject({
      kind: "settled",
    });
    const next = await a.add("x", encode(2), T0);
    expect(next.seq).toBe(2);
    await a.flush();
    expect(errors).toEqual(["STORE_UNAVAILABLE"]);
    // This outbox still has the value; storage (any other tab) knows only that it finished.
    expect(await a.result(big.id, T0)).toMatchObject({ ok: true, payload: huge });
    const b = await open({ storage });
    expect(await b.result(big.id, T0)).toEqual({
      id: big.id,
      seq: 1,
      name: "x",
      finishedAt: T0,
      ok: true,
      omitted: true,
    });
    expect(storage.data.has(`assured:msg:${big.id}`)).toBe(false);
    // Later settles and adds work.
    expect(a.due(T0).map((f) => f.seq)).toEqual([2]);
    a.acked(ok(next.id, "small"), T0);
    expect((await a.add("x", encode(3), T0)).seq).toBe(3);
    await a.flush();
    const small = await b.result(next.id, T0);
    expect(small?.ok && !small.omitted && decode(small.payload)).toBe("small");
  });

  it("a result above maxResultBytes is stored as omitted, without an error", async () => {
    const storage = testStorage({ batch });
    const errors: string[] = [];
    const a = await open({
      storage,
      maxResultBytes: 300,
      onStorageError: (e) => errors.push(e.code),
    });
    const m = await a.add("x", encode(1), T0);
    const e = await a.add("x", encode(2), T0);
    a.due(T0);
    a.acked({ id: m.id, ok: true, payload: new Uint8Array(400) }, T0);
    a.acked({ id: e.id, ok: false, stored: true, payload: new Uint8Array(400) }, T0);
    await a.flush();
    expect(errors).toEqual([]);
    expect(JSON.parse(storage.data.get(`assured:result:${m.id}`)!)).toMatchObject({
      ok: true,
      omitted: true,
    });
    const b = await open({ storage });
    expect(await b.result(m.id, T0)).toMatchObject({ ok: true, omitted: true });
    expect(await b.result(e.id, T0)).toMatchObject({ ok: false, stored: true, omitted: true });
    expect((await a.result(m.id, T0)) as { payload?: Uint8Array }).toHaveProperty("payload");
  });

  it("a failed add rejects only itself and consumes no seq; seqs stay dense", async () => {
    const storage = testStorage({ batch });
    const bad = encode("refused");
    const marker = btoa(String.fromCharCode(...bad));
    storage.refuse = (key, value) => key.startsWith("assured:msg:") && value.includes(marker);
    const a = await open({ storage });
    expect((await a.add("x", encode(1), T0)).seq).toBe(1);
    const error = await a.add("x", bad, T0).catch((e) => e);
    expect(isAssuredError(error, "STORE_UNAVAILABLE")).toBe(true);
    expect((await a.add("x", encode(2), T0)).seq).toBe(2);
    // In one coalesced flush too.
    const burst = await Promise.allSettled([
      a.add("x", encode(3), T0),
      a.add("x", bad, T0),
      a.add("x", encode(4), T0),
    ]);
    expect(burst.map((r) => (r.status === "fulfilled" ? r.value.seq : "rejected"))).toEqual([
      3,
      "rejected",
      4,
    ]);
    expect(a.firstSeq()).toBe(1);
    expect(a.due(T0).map((f) => f.seq)).toEqual([1, 2, 3, 4]);
    const stored = storage.keys().filter((k) => k.startsWith("assured:msg:"));
    expect(stored).toHaveLength(4);
    await a.close();
    const b = await open({ storage });
    expect(b.pending().map((m) => decode(m.payload))).toEqual([1, 2, 3, 4]);
  });

  it("a failed record write while settling is retried with the next flush and blocks no add", async () => {
    const storage = testStorage({ batch });
    const errors: string[] = [];
    const a = await open({ storage, onStorageError: (e) => errors.push(e.code) });
    const m1 = await a.add("x", encode(1), T0);
    a.due(T0);
    let failRecord = true;
    storage.refuse = (key) => failRecord && key.startsWith("assured:session:");
    a.acked(ok(m1.id), T0);
    await a.flush();
    expect(errors).toEqual(["STORE_UNAVAILABLE"]);
    failRecord = false;
    const m2 = await a.add("x", encode(2), T0);
    expect(m2.seq).toBe(2);
    await a.close();
    const b = await open({ storage });
    expect(b.pending().map((m) => m.id)).toEqual([m2.id]);
    expect(await b.result(m1.id, T0)).toMatchObject({ ok: true });
    expect(storage.data.has(`assured:msg:${m1.id}`)).toBe(false);
  });
});

describe("Outbox frames, layout v1 and options", () => {
  it("due frames carry the message's age and, with messageTtlMs, its ttl", async () => {
    const plain = await open({});
    await plain.add("x", encode(1), T0);
    const [frame] = plain.due(T0 + 250);
    expect(frame).toMatchObject({ seq: 1, age: 250 });
    expect(frame).not.toHaveProperty("ttl");
    const limited = await open({ messageTtlMs: 5000 });
    await limited.add("x", encode(1), T0 + 10);
    expect(limited.due(T0)[0]).toMatchObject({ age: 0, ttl: 5000 });
  });

  it("G11: with batch, a burst of adds costs a few batches, each message written once", async () => {
    const storage = testStorage();
    const writes: string[] = [];
    const inner = storage.batch!;
    storage.batch = async (batch) => {
      writes.push(...batch.map((w) => w.key));
      await inner(batch);
    };
    const a = await open({ storage, window: 200, maxPending: 200 });
    const before = storage.batches;
    const added = await Promise.all(
      Array.from({ length: 200 }, (_, i) => a.add("x", encode(i), T0)),
    );
    expect(storage.batches - before).toBeLessThanOrEqual(3);
    expect(writes.filter((k) => k.startsWith("assured:msg:"))).toHaveLength(200);
    expect(added.map((m) => m.seq)).toEqual(added.map((_, i) => i + 1));
  });

  it("migrates layout v1 (one shared record and one results array) at open", async () => {
    const storage = testStorage();
    const b64 = (value: unknown) => btoa(String.fromCharCode(...encode(value)));
    const legacy = { v: 1, clientId: "legacy-client", seq: 7, ids: ["m6", "m7"] };
    await storage.set("assured:outbox", JSON.stringify(legacy));
    for (const [id, seq] of [
      ["m6", 6],
      ["m7", 7],
    ] as const) {
      await storage.set(
        `assured:msg:${id}`,
        JSON.stringify({ id, seq, name: "x", payload: b64(id), createdAt: T0 - seq }),
      );
    }
    const done = { id: "m5", seq: 5, name: "x", ok: true, payload: b64("five"), finishedAt: T0 };
    await storage.set("assured:results", JSON.stringify([done]));
    const a = await open({ storage });
    expect(a.clientId).toBe("legacy-client");
    expect(a.pending().map((m) => [m.id, m.seq, decode(m.payload), m.createdAt])).toEqual([
      ["m6", 1, "m6", T0 - 6],
      ["m7", 2, "m7", T0 - 7],
    ]);
    const result = await a.result("m5", T0);
    expect(result?.ok && !result.omitted && decode(result.payload)).toBe("five");
    await a.flush();
    const sid = sessions(storage).index[0]!;
    expect(storage.keys()).toEqual(
      [
        "assured:client",
        "assured:sessions",
        `assured:session:${sid}`,
        "assured:msg:m6",
        "assured:msg:m7",
        "assured:result:m5",
      ].sort(),
    );
  });

  it("G12: validates the new options", async () => {
    for (const options of [
      { maxResultBytes: 0 },
      { messageTtlMs: -1 },
      { adoptIntervalMs: 1.5 },
      { adoptGraceMs: -1 },
      { adoptGraceMs: 0.5 },
      { adoptGraceMs: "1000" },
      { onChange: "pump" },
      { clock: 5 },
      { locks: {} },
      { timers: { setTimeout: () => 0 } },
      { channel: "yes" },
      { onStorageError: true },
    ]) {
      await expect(Outbox.open(options as OutboxOptions)).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
    }
  });
});

/** Timers that run only when the test fires them. */
function manualTimers(): OutboxTimers & {
  armed: Array<{ callback: () => void; ms: number; cleared: boolean }>;
  fire(ms: number): void;
} {
  const armed: Array<{ callback: () => void; ms: number; cleared: boolean }> = [];
  return {
    armed,
    setTimeout: (callback, ms) => {
      const timer = { callback, ms, cleared: false };
      armed.push(timer);
      return timer;
    },
    clearTimeout: (handle) => {
      if (handle) (handle as { cleared: boolean }).cleared = true;
    },
    fire(ms) {
      const timer = armed.find((t) => t.ms === ms && !t.cleared);
      if (!timer) throw new Error(`no timer of ${ms} ms armed`);
      timer.cleared = true;
      timer.callback();
    },
  };
}

const sessionLock = (sid: string) => `assured:assured:session:${sid}`;

describe("Outbox sessions: retries, cancelled watches and the grace at open", () => {
  it("a failed adoption is retried after a backoff, also with a channel", async () => {
    const storage = testStorage();
    const shared = memoryLocks();
    const tab = tabsOf(storage, shared)();
    const a = await open({ storage: tab.storage, locks: tab.locks });
    const m1 = await a.add("x", encode(1), T0);
    const m2 = await a.add("x", encode(2), T0);
    const [orphan] = sessions(storage).index;
    tab.crash();
    await tick();
    // The orphan's record cannot be read once (a storage error while adopting at open).
    let failures = 1;
    const flaky: ClientStorage = {
      ...storage,
      get: async (key) => {
        if (key === `assured:session:${orphan}` && failures > 0) {
          failures--;
          throw new DOMException("read failed", "UnknownError");
        }
        return storage.get(key);
      },
    };
    const timers = manualTimers();
    const errors: string[] = [];
    let changes = 0;
    const b = await open({
      storage: flaky,
      locks: shared,
      channel: bus(),
      timers,
      adoptIntervalMs: 60_000,
      onStorageError: (e) => errors.push(e.code),
      onChange: () => changes++,
    });
    expect(errors).toEqual(["STORE_UNAVAILABLE"]);
    expect(b.pending()).toEqual([]);
    // The retry (full jitter, random 0.5 of retry.initialMs 500) and the index re-read.
    expect(timers.armed.map((t) => t.ms).sort((x, y) => x - y)).toEqual([250, 60_000]);
    timers.fire(250);
    await waitFor(() => changes > 0);
    await b.flush();
    expect(b.pending().map((m) => [m.id, m.seq])).toEqual([
      [m1.id, 1],
      [m2.id, 2],
    ]);
    expect(sessions(storage).index).toHaveLength(1);
    expect(sessions(storage).records).toHaveLength(1);
    await b.close();
    expect(timers.armed.every((t) => t.cleared)).toBe(true);
  });

  it("with a channel too, the index is re-read every adoptIntervalMs (a missed announcement)", async () => {
    const storage = testStorage();
    const shared = memoryLocks();
    const timers = manualTimers();
    let changes = 0;
    const a = await open({
      storage,
      locks: shared,
      channel: bus(),
      timers,
      adoptIntervalMs: 5000,
      onChange: () => changes++,
    });
    // b announces itself on no channel a listens to.
    const tab = tabsOf(storage, shared)();
    const b = await open({ storage: tab.storage, locks: tab.locks, channel: bus() });
    const m = await b.add("x", encode(1), T0);
    tab.crash();
    await tick();
    expect(changes).toBe(0);
    timers.fire(5000);
    await waitFor(() => changes > 0);
    expect(a.pending().map((x) => x.id)).toEqual([m.id]);
  });

  it("a closed outbox leaves no queued request on a live session's lock (100 open/close)", async () => {
    const storage = testStorage();
    const locks = memoryLocks();
    const a = await open({ storage, locks });
    const m = await a.add("x", encode("a"), T0);
    const lock = sessionLock(sessions(storage).index[0]!);
    for (let i = 0; i < 100; i++) {
      const b = await open({ storage, locks });
      expect(locks.queued(lock)).toBe(1); // b watches a while open
      await b.close();
    }
    expect(locks.queued(lock)).toBe(0);
    // The lock still works: an outbox watching a adopts it when a closes.
    let changes = 0;
    const c = await open({ storage, locks, onChange: () => changes++ });
    await a.close();
    await waitFor(() => changes > 0);
    expect(c.pending().map((x) => x.id)).toEqual([m.id]);
  });

  it("open waits (adoptGraceMs) for a session released late, as after a reload: its messages come first", async () => {
    const storage = testStorage();
    const locks = memoryLocks();
    const old = await open({ storage, locks });
    const m1 = await old.add("x", encode("old 1"), T0);
    const m2 = await old.add("x", encode("old 2"), T0);
    const timers = manualTimers();
    let opened = false;
    const opening = open({ storage, locks, timers, adoptGraceMs: 1000 }).then((outbox) => {
      opened = true;
      return outbox;
    });
    // The old page's lock is released 50 ms after the new page began to open (within the grace).
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(opened).toBe(false);
    expect(timers.armed.map((t) => t.ms)).toEqual([1000]);
    await old.close();
    const b = await opening;
    const own = await b.add("x", encode("new"), T0);
    expect(b.pending().map((m) => [m.id, m.seq])).toEqual([
      [m1.id, 1],
      [m2.id, 2],
      [own.id, 3],
    ]);
    expect(b.due(T0).map((f) => f.seq)).toEqual([1, 2, 3]);
    expect(sessions(storage).index).toHaveLength(1);
  });

  it("sessions alive through the grace are not adopted: open resolves when it ends (one timer for all)", async () => {
    const storage = testStorage();
    const locks = memoryLocks();
    const a1 = await open({ storage, locks });
    const a2 = await open({ storage, locks });
    const m = await a2.add("x", encode(1), T0);
    const timers = manualTimers();
    let changes = 0;
    let opened = false;
    const opening = open({
      storage,
      locks,
      timers,
      adoptGraceMs: 1000,
      onChange: () => changes++,
    }).then((outbox) => {
      opened = true;
      return outbox;
    });
    await tick();
    expect(opened).toBe(false);
    expect(timers.armed.map((t) => t.ms)).toEqual([1000]);
    timers.fire(1000);
    const b = await opening;
    expect(b.pending()).toEqual([]);
    // Still watched: adopted (with onChange) once its owner closes (a1 watches only older ones).
    await a2.close();
    await waitFor(() => changes > 0);
    expect(b.pending().map((x) => x.id)).toEqual([m.id]);
    await a1.close();
  });

  describe("the default grace", () => {
    afterEach(() => {
      vi.unstubAllGlobals();
    });

    it("is 0 with in-process locks: open with a live session arms no grace timer", async () => {
      const storage = testStorage();
      expect(outboxConfig({ storage }).adoptGraceMs).toBe(0);
      expect(outboxConfig({ storage, locks: memoryLocks() }).adoptGraceMs).toBe(0);
      await open({ storage });
      const timers = manualTimers();
      await open({ storage, timers, adoptIntervalMs: 5000 });
      expect(timers.armed.map((t) => t.ms)).toEqual([5000]);
    });

    it("is DEFAULT_ADOPT_GRACE_MS with the runtime's Web Locks (released late by browsers)", async () => {
      const inner = memoryLocks();
      vi.stubGlobal("navigator", {
        locks: {
          request: (name: string, options: object, task: (lock: unknown) => Promise<unknown>) =>
            inner.request(name, options, (granted) => task(granted ? { name } : null)),
        },
      });
      const storage = testStorage();
      expect(DEFAULT_ADOPT_GRACE_MS).toBe(1000);
      expect(outboxConfig({ storage }).adoptGraceMs).toBe(DEFAULT_ADOPT_GRACE_MS);
      expect(outboxConfig({ storage, locks: memoryLocks() }).adoptGraceMs).toBe(0);
      expect(outboxConfig({ storage, adoptGraceMs: 0 }).adoptGraceMs).toBe(0);
      const a = await open({ storage });
      const timers = manualTimers();
      const opening = open({ storage, timers, adoptIntervalMs: 5000 });
      await tick();
      expect(timers.armed.map((t) => t.ms)).toEqual([DEFAULT_ADOPT_GRACE_MS]);
      timers.fire(DEFAULT_ADOPT_GRACE_MS);
      const b = await opening;
      expect(timers.armed.map((t) => t.ms)).toEqual([DEFAULT_ADOPT_GRACE_MS, 5000]);
      await b.close();
      await a.close();
    });
  });
});
