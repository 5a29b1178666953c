import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encode, isAssuredError } from "../src/index.js";
import {
  type ClientLocks,
  type ClientStorage,
  type MessageFrame,
  memoryLocks,
  Outbox,
  type OutboxChannel,
  type StorageWrite,
} from "../src/protocol-entry.js";
import { seeded } from "./seeded.js";

/*
 * Model-based test of several outboxes sharing one storage (browser tabs): adds (some refused by
 * storage), sends, acks (ok / retryable / final), disconnects, orderly close and reopen, crashes
 * (locks dropped, storage calls never return) and injected write failures. Invariants:
 * - no message is pending in two live outboxes;
 * - per session, seqs are dense (1, 2, 3… with no hole), `firstSeq` is the lowest unanswered
 *   one, and frames never skip past a seq the server has not seen on the connection;
 * - a settle that was stored without a storage error is never repeated;
 * - in the end (all closed, one reopened) every message whose add resolved is pending there or
 *   has a result (or its settle hit a storage failure), and storage holds nothing else.
 */

type TestStorage = ClientStorage & {
  data: Map<string, string>;
  keys(): string[];
  refuse: (key: string, value: string) => boolean;
};

function testStorage(batch: boolean): TestStorage {
  const data = new Map<string, string>();
  const check = (key: string, value: string) => {
    if (storage.refuse(key, value)) throw new DOMException(key, "QuotaExceededError");
  };
  const storage: TestStorage = {
    data,
    keys: () => [...data.keys()].sort(),
    refuse: () => false,
    get: async (key) => data.get(key) ?? null,
    set: async (key, value) => {
      check(key, value);
      data.set(key, value);
    },
    remove: async (key) => {
      data.delete(key);
    },
  };
  if (batch) {
    storage.batch = async (writes: readonly StorageWrite[]) => {
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
  crash(): void;
}

function tabOf(storage: ClientStorage, shared: ClientLocks): Tab {
  let crashed = false;
  let drop!: () => void;
  const dropped = new Promise<void>((resolve) => {
    drop = resolve;
  });
  const never = <T>() => new Promise<T>(() => {});
  return {
    locks: {
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
    },
    storage: {
      get: (key) => (crashed ? never() : storage.get(key)),
      set: (key, value) => (crashed ? never() : storage.set(key, value)),
      remove: (key) => (crashed ? never() : storage.remove(key)),
      ...(storage.batch ? { batch: (writes) => (crashed ? never() : storage.batch!(writes)) } : {}),
    },
    crash() {
      crashed = true;
      drop();
    },
  };
}

function bus(): (name: string) => OutboxChannel {
  const open = new Set<OutboxChannel>();
  return () => {
    const channel: OutboxChannel = {
      onmessage: null,
      postMessage(data) {
        for (const other of open) {
          if (other !== channel) queueMicrotask(() => other.onmessage?.({ data }));
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

const SLOTS = 3;
const T0 = 1_000_000;

interface Slot {
  outbox: Outbox;
  tab: Tab;
  errors: number;
  online: boolean;
  /** The next seq the server expects on this connection. */
  expected: number;
  inFlight: MessageFrame[];
  /** Every seq this session gave a message. */
  seqs: Set<number>;
}

interface Settle {
  slot: Slot;
  errors: number;
  durable: boolean;
}

interface Real {
  storage: TestStorage;
  locks: ClientLocks;
  channel: (name: string) => OutboxChannel;
  slots: Array<Slot | undefined>;
  now: number;
  faults: boolean;
  counter: number;
  stored: Set<string>;
  settled: Map<string, Settle>;
  /** Settles that hit a storage failure: their result may be missing, they may run again. */
  lossy: Set<string>;
}

interface Model {
  live: boolean[];
}

type Cmd = fc.AsyncCommand<Model, Real>;

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

async function openSlot(real: Real, i: number): Promise<void> {
  const tab = tabOf(real.storage, real.locks);
  const holder: { slot?: Slot } = {};
  let early = 0;
  const outbox = await Outbox.open(
    {
      storage: tab.storage,
      locks: tab.locks,
      channel: real.channel,
      clock: () => real.now,
      random: () => 0.5,
      onStorageError: () => {
        if (holder.slot) holder.slot.errors++;
        else early++;
      },
    },
    real.now,
  );
  holder.slot = {
    outbox,
    tab,
    errors: early,
    online: true,
    expected: outbox.firstSeq(),
    inFlight: [],
    seqs: new Set(),
  };
  outbox.connected();
  real.slots[i] = holder.slot;
}

/** Lets background adoption run, waits for every live outbox's writes, then checks invariants. */
async function settleAndCheck(real: Real): Promise<void> {
  for (let round = 0; round < 3; round++) {
    await tick();
    await Promise.all(real.slots.map((s) => s?.outbox.flush()));
  }
  const owner = new Map<string, number>();
  real.slots.forEach((slot, i) => {
    if (!slot) return;
    const pending = slot.outbox.pending();
    for (const m of pending) {
      expect(owner.has(m.id), `message ${m.id} pending in two live outboxes`).toBe(false);
      owner.set(m.id, i);
      slot.seqs.add(m.seq);
    }
    const max = Math.max(0, ...slot.seqs);
    expect(slot.seqs.size, `seqs of slot ${i} are dense`).toBe(max);
    expect(slot.outbox.firstSeq()).toBe(pending[0]?.seq ?? max + 1);
  });
  for (const [id, settle] of real.settled) {
    if (settle.durable) continue;
    if (settle.slot.errors === settle.errors) settle.durable = true;
    else real.lossy.add(id);
  }
}

/** The index of the `n`-th live slot (modulo their number). */
function liveSlot(m: Model, n: number): number {
  const live = m.live.flatMap((on, i) => (on ? [i] : []));
  return live[n % live.length]!;
}

const anyLive = (m: Model) => m.live.some(Boolean);

const openCmd = (): Cmd => ({
  check: (m) => m.live.some((on) => !on),
  async run(m, real) {
    const i = m.live.indexOf(false);
    try {
      await openSlot(real, i);
      m.live[i] = true;
    } catch (error) {
      // Opening writes (the client id, the index): it may fail while writes fail.
      expect(isAssuredError(error, "STORE_UNAVAILABLE") && real.faults).toBe(true);
    }
    await settleAndCheck(real);
  },
  toString: () => "open",
});

const addCmd = (n: number, refused: boolean): Cmd => ({
  check: anyLive,
  async run(m, real) {
    const i = liveSlot(m, n);
    const slot = real.slots[i]!;
    const name = refused ? "refused" : "x";
    try {
      const message = await slot.outbox.add(name, encode(real.counter++), real.now);
      expect(refused, "a refused message was stored").toBe(false);
      real.stored.add(message.id);
      slot.seqs.add(message.seq);
    } catch (error) {
      expect(isAssuredError(error, "STORE_UNAVAILABLE")).toBe(true);
      expect(refused || real.faults, "only refused writes fail").toBe(true);
    }
    await settleAndCheck(real);
  },
  toString: () => `add(${n}${refused ? ", refused" : ""})`,
});

const sendCmd = (n: number): Cmd => ({
  check: anyLive,
  async run(m, real) {
    const i = liveSlot(m, n);
    real.now += 1000;
    const slot = real.slots[i]!;
    const frames = slot.outbox.due(real.now);
    let last = 0;
    for (const frame of frames) {
      expect(frame.seq).toBeGreaterThan(last);
      last = frame.seq;
      // The server refuses a seq that skips one it has not seen on this connection.
      expect(frame.seq, `seq ${frame.seq} skips ${slot.expected}`).toBeLessThanOrEqual(
        slot.expected,
      );
      if (frame.seq === slot.expected) slot.expected++;
      slot.seqs.add(frame.seq);
      slot.inFlight.push(frame);
    }
    await settleAndCheck(real);
  },
  toString: () => `send(${n})`,
});

type AckKind = "ok" | "retry" | "final";

/**
 * The server answers a tab's frames in arrival order (one queue per socket). A retryable refusal
 * also refuses every later frame in flight (the retry barrier, `details.waitingForSeq`).
 */
const ackCmd = (n: number, kind: AckKind): Cmd => ({
  check: anyLive,
  async run(_, real) {
    const sending = real.slots.filter((s) => s !== undefined && s.inFlight.length > 0);
    if (sending.length === 0) return;
    const slot = sending[n % sending.length]!;
    const frame = slot.inFlight.shift()!;
    const replies: unknown[] = [];
    if (kind === "ok") replies.push({ id: frame.id, ok: true, payload: encode("r") });
    if (kind === "final") {
      replies.push({ id: frame.id, ok: false, error: { code: "UNKNOWN_EVENT", message: "no" } });
    }
    if (kind === "retry") {
      replies.push({ id: frame.id, ok: false, error: { code: "RATE_LIMITED", message: "wait" } });
      for (const later of slot.inFlight.splice(0)) {
        const details = { waitingForSeq: frame.seq };
        const error = { code: "RATE_LIMITED", message: "barrier", details };
        replies.push({ id: later.id, ok: false, error });
      }
    }
    for (const reply of replies) {
      const outcome = slot.outbox.acked(reply, real.now);
      if (outcome.kind !== "settled") continue;
      const id = outcome.result.id;
      const before = real.settled.get(id);
      expect(before?.durable && !real.lossy.has(id), `message ${id} settled twice`).toBeFalsy();
      real.settled.set(id, { slot, errors: slot.errors, durable: false });
    }
    await settleAndCheck(real);
  },
  toString: () => `ack(${n}, ${kind})`,
});

const connectCmd = (n: number): Cmd => ({
  check: anyLive,
  async run(m, real) {
    const i = liveSlot(m, n);
    const slot = real.slots[i]!;
    if (slot.online) {
      slot.outbox.disconnected();
      slot.inFlight = [];
      slot.online = false;
    } else {
      slot.expected = slot.outbox.firstSeq();
      slot.outbox.connected();
      slot.online = true;
    }
    await settleAndCheck(real);
  },
  toString: () => `toggleConnection(${n})`,
});

const closeCmd = (n: number): Cmd => ({
  check: anyLive,
  async run(m, real) {
    const i = liveSlot(m, n);
    const slot = real.slots[i]!;
    real.slots[i] = undefined;
    m.live[i] = false;
    await slot.outbox.close();
    await settleAndCheck(real);
  },
  toString: () => `close(${n})`,
});

const crashCmd = (n: number): Cmd => ({
  check: anyLive,
  async run(m, real) {
    const i = liveSlot(m, n);
    real.slots[i]!.tab.crash();
    real.slots[i] = undefined;
    m.live[i] = false;
    await settleAndCheck(real);
  },
  toString: () => `crash(${n})`,
});

const faultsCmd = (on: boolean): Cmd => ({
  check: () => true,
  async run(_, real) {
    real.faults = on;
    await settleAndCheck(real);
  },
  toString: () => `faults(${on})`,
});

const slot = fc.nat({ max: SLOTS - 1 });
const commands = fc.commands(
  [
    fc.constant(null).map(openCmd),
    fc.constant(null).map(openCmd),
    fc.tuple(slot, fc.boolean()).map(([n, refused]) => addCmd(n, refused)),
    slot.map((n) => addCmd(n, false)),
    slot.map((n) => addCmd(n, false)),
    slot.map(sendCmd),
    slot.map(sendCmd),
    fc
      .tuple(slot, fc.constantFrom<AckKind>("ok", "retry", "final"))
      .map(([n, kind]) => ackCmd(n, kind)),
    slot.map((n) => ackCmd(n, "ok")),
    slot.map((n) => ackCmd(n, "ok")),
    slot.map(connectCmd),
    slot.map(closeCmd),
    slot.map(crashCmd),
    fc.boolean().map(faultsCmd),
  ],
  { maxCommands: 60, size: "max" },
);

describe("Outbox sessions (model-based)", () => {
  it("keeps every stored message exactly once across tabs that close, crash and fail writes", async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.nat(), commands, async (batch, faultSeed, cmds) => {
        const storage = testStorage(batch);
        const random = seeded(faultSeed);
        const real: Real = {
          storage,
          locks: memoryLocks(),
          channel: bus(),
          slots: [],
          now: T0,
          faults: false,
          counter: 0,
          stored: new Set(),
          settled: new Map(),
          lossy: new Set(),
        };
        storage.refuse = (key, value) =>
          (key.includes(":msg:") && value.includes('"name":"refused"')) ||
          (real.faults && random() < 0.4);
        const model: Model = { live: Array.from({ length: SLOTS }, () => false) };
        await fc.asyncModelRun(() => ({ model, real }), cmds);

        // The end: faults stop, every tab closes, one page opens and adopts everything.
        real.faults = false;
        for (const s of real.slots) await s?.outbox.close();
        real.slots = [];
        await openSlot(real, 0);
        await settleAndCheck(real);
        const last = real.slots[0]!.outbox;
        const pending = new Set(last.pending().map((m) => m.id));
        for (const id of real.stored) {
          if (pending.has(id) || real.lossy.has(id)) continue;
          expect(await last.result(id, real.now), `message ${id} was lost`).toBeDefined();
        }
        const index: string[] = JSON.parse(storage.data.get("assured:sessions")!);
        expect(index).toHaveLength(1);
        const sid = index[0]!;
        const keys = storage.keys();
        for (const key of keys.filter((k) => k.startsWith("assured:session:"))) {
          expect(key).toBe(`assured:session:${sid}`);
        }
        const msgKeys = keys.filter((k) => k.startsWith("assured:msg:")).map((k) => k.slice(12));
        expect(msgKeys.sort()).toEqual([...pending].sort());
        const record = JSON.parse(storage.data.get(`assured:session:${sid}`) ?? '{"results":[]}');
        const listed = new Set((record.results as Array<[string, number]>).map(([id]) => id));
        for (const key of keys.filter((k) => k.startsWith("assured:result:"))) {
          expect(listed.has(key.slice("assured:result:".length)), `${key} is orphaned`).toBe(true);
        }
        await last.close();
      }),
      { numRuns: 1000 },
    );
  });
});
