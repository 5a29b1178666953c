import {
  createMemoryBackend,
  type EventRecord,
  isAssuredError,
  type MemoryBackend,
  MemoryEventStore,
} from "@assured/core";
import {
  FRAMES,
  parseSubscribeRequest,
  type SubscribedFrame,
  type SubscribeErrorFrame,
} from "@assured/core/protocol";
import { MemoryStreamLog } from "@assured/core/store";
import { afterEach, describe, expect, it } from "vitest";
import { assuredAuth, seed, startAssured } from "./harness.js";

/*
 * Positions detect divergence (DESIGN §8): a position `(epoch, offset, id)` whose record no
 * longer has that id — the store was restored from an older snapshot and new appends reused
 * the offsets — or whose offset is beyond the head is answered `recovered: false, reason:
 * "diverged"` and continues from the head, like an `epoch` outcome.
 */

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A copy of a stream's log as it is now: what a snapshot of the store would hold. */
function snapshotLog(backend: MemoryBackend, stream: string): MemoryStreamLog {
  const log = backend.streams.get(stream);
  if (log === undefined) throw new Error(`no log for ${stream}`);
  const copy = new MemoryStreamLog();
  copy.restart(log.epoch);
  for (let offset = 1; offset <= log.head; offset++) {
    const record = log.at(offset);
    if (record !== undefined) copy.push({ ...record });
  }
  return copy;
}

async function recordsOf(store: MemoryEventStore, stream: string): Promise<EventRecord[]> {
  return (await store.read(stream, { after: 0, limit: 100 })).records;
}

/** A store whose stream "s" has 5 events, then rolled back to its first 3 and 2 new appended. */
async function rolledBack() {
  const backend = createMemoryBackend();
  const store = new MemoryEventStore({ backend });
  await seed(store, "s", 3);
  const snapshot = snapshotLog(backend, "s");
  await seed(store, "s", 2);
  const before = await recordsOf(store, "s");
  backend.streams.set("s", snapshot);
  await seed(store, "s", 2);
  const after = await recordsOf(store, "s");
  return { store, before, after, epoch: (await store.head("s")).epoch };
}

function position(epoch: string, record: EventRecord | undefined, offset = record?.offset) {
  return { epoch, offset, ...(record ? { id: record.id } : {}) };
}

describe("positions detect divergence (server)", () => {
  it("a resume whose record has another id is diverged and continues from the head (no replay)", async () => {
    const { store, before, after, epoch } = await rolledBack();
    expect(after.map((r) => r.offset)).toEqual([1, 2, 3, 4, 5]);
    expect(after[4]!.id).not.toBe(before[4]!.id);
    server = await startAssured({ store });
    const peer = await server.connect(
      assuredAuth([{ stream: "s", position: position(epoch, before[4]), from: "head" }]),
    );
    expect(await peer.next<SubscribedFrame>(FRAMES.subscribed)).toEqual({
      stream: "s",
      epoch,
      recovered: false,
      reason: "diverged",
      start: 5,
      head: 5,
      // The id of the event at start: the client's new position is checked from now on.
      startId: after[4]!.id,
      // Nothing after the head: an empty first page.
      records: { first: 0, count: 0, bytes: 0, ids: "", names: [], columns: "" },
    });
    // Continues from the head: the next event is delivered live.
    await server.assured.publish("s", "e", 6);
    await peer.until(() => peer.offsets("s").includes(6));
    expect(peer.offsets("s")).toEqual([6]);
  });

  it("a position inside the common history recovers and replays the new events", async () => {
    const { store, before, after, epoch } = await rolledBack();
    server = await startAssured({ store });
    const peer = await server.connect(
      assuredAuth([{ stream: "s", position: position(epoch, before[2]), from: "head" }]),
    );
    expect(await peer.next<SubscribedFrame>(FRAMES.subscribed)).toMatchObject({
      recovered: true,
      start: 3,
    });
    await peer.until(() => peer.records("s").length === 2);
    expect(peer.records("s").map((r) => r.id)).toEqual([after[3]!.id, after[4]!.id]);
  });

  it("an offset beyond the head in the same epoch is diverged (epoch without an id, for older clients), in another epoch it is epoch", async () => {
    const { store, epoch } = await rolledBack();
    server = await startAssured({ store });
    const peer = await server.connect(assuredAuth());
    peer.socket.emit(FRAMES.subscribe, {
      stream: "s",
      position: { epoch, offset: 9, id: "x" },
    });
    expect(await peer.next<SubscribedFrame>(FRAMES.subscribed)).toMatchObject({
      recovered: false,
      reason: "diverged",
      start: 5,
    });
    // Without an id (an older client, which knows no "diverged"): epoch, as before. (One
    // request at a time: a new one for the stream supersedes a running one.)
    peer.socket.emit(FRAMES.subscribe, { stream: "s", position: { epoch, offset: 9 } });
    await peer.until(() => peer.frames(FRAMES.subscribed).length === 2);
    peer.socket.emit(FRAMES.subscribe, { stream: "s", position: { epoch: "other", offset: 9 } });
    await peer.until(() => peer.frames(FRAMES.subscribed).length === 3);
    expect(peer.frames<SubscribedFrame>(FRAMES.subscribed).map((f) => f.reason)).toEqual([
      "diverged",
      "epoch",
      "epoch",
    ]);
  });

  it("a position without an id (an older client) resumes unchecked; a matching id recovers", async () => {
    const { store, before, after, epoch } = await rolledBack();
    server = await startAssured({ store });
    const old = await server.connect(
      assuredAuth([{ stream: "s", position: position(epoch, undefined, 5), from: "head" }]),
    );
    expect(await old.next<SubscribedFrame>(FRAMES.subscribed)).toMatchObject({
      recovered: true,
      start: 5,
    });
    expect(before[4]!.offset).toBe(5);
    const current = await server.connect(
      assuredAuth([{ stream: "s", position: position(epoch, after[4]), from: "head" }]),
    );
    expect(await current.next<SubscribedFrame>(FRAMES.subscribed)).toMatchObject({
      recovered: true,
      start: 5,
    });
  });

  it("a position whose record was trimmed keeps the trimming rule", async () => {
    const backend = createMemoryBackend();
    const store = new MemoryEventStore({ backend, retention: { maxLength: 3 } });
    await seed(store, "s", 6);
    const { epoch } = await store.head("s");
    server = await startAssured({ store });
    const peer = await server.connect(assuredAuth());
    // Offset 2 is trimmed (earliest 4): trimmed, whatever the id.
    peer.socket.emit(FRAMES.subscribe, { stream: "s", position: { epoch, offset: 2, id: "x" } });
    expect(await peer.next<SubscribedFrame>(FRAMES.subscribed)).toMatchObject({
      recovered: false,
      reason: "trimmed",
    });
    // Offset 3 is just before earliest: recoverable, its record cannot be checked.
    peer.socket.emit(FRAMES.subscribe, { stream: "s", position: { epoch, offset: 3, id: "x" } });
    await peer.until(() => peer.frames(FRAMES.subscribed).length === 2);
    expect(peer.frames<SubscribedFrame>(FRAMES.subscribed)[1]).toMatchObject({
      recovered: true,
      start: 3,
    });
  });
});

describe("handshake features: who gets diverged for a position without an id", () => {
  it("a client announcing diverged gets it beyond the head; others get epoch; bad features are BAD_FRAME", async () => {
    const { store, epoch } = await rolledBack();
    server = await startAssured({ store });
    const beyond = { stream: "s", position: { epoch, offset: 9 }, from: "head" };
    const auth = (features: unknown) => {
      const base = assuredAuth([beyond]);
      return { assured: { ...base.assured, features } };
    };
    const knowing = await server.connect(auth(["diverged", "some-later-feature"]));
    expect(await knowing.next<SubscribedFrame>(FRAMES.subscribed)).toMatchObject({
      recovered: false,
      reason: "diverged",
    });
    const older = await server.connect(auth(undefined));
    expect(await older.next<SubscribedFrame>(FRAMES.subscribed)).toMatchObject({
      recovered: false,
      reason: "epoch",
    });
    for (const features of ["diverged", [1], [""], ["x".repeat(65)], Array(33).fill("a")]) {
      const bad = await server.connect(auth(features));
      const error = await bad.next<{ code: string }>(FRAMES.error);
      expect(error.code, JSON.stringify(features).slice(0, 40)).toBe("BAD_FRAME");
      await bad.roundTrip();
      expect(bad.frames(FRAMES.subscribed)).toEqual([]);
    }
  });
});

describe("assured:subscribed names the event at start (startId)", () => {
  it("for a fresh subscription at the head and a recovered one; not at offset 0 or when not retained", async () => {
    const store = new MemoryEventStore({ retention: { maxLength: 3 } });
    await seed(store, "s", 6);
    const { epoch } = await store.head("s");
    const [fourth, , sixth] = await recordsOf(store, "s");
    server = await startAssured({ store });
    const peer = await server.connect(
      assuredAuth([
        { stream: "s", position: null, from: "head" },
        { stream: "t", position: null, from: "earliest" },
        { stream: "u", position: { epoch, offset: 4, id: fourth!.id }, from: "head" },
      ]),
    );
    await peer.until(() => peer.frames(FRAMES.subscribed).length === 3);
    const byStream = (stream: string) =>
      peer.frames<SubscribedFrame>(FRAMES.subscribed).find((f) => f.stream === stream);
    expect(byStream("s")).toMatchObject({ start: 6, startId: sixth!.id });
    expect(byStream("t")).toMatchObject({ start: 0 });
    expect(byStream("t")).not.toHaveProperty("startId");
    // "u" has no log: its epoch is "" and the position's offset is an epoch outcome.
    expect(byStream("u")).not.toHaveProperty("startId");
    peer.socket.emit(FRAMES.subscribe, {
      stream: "s",
      position: { epoch, offset: 4, id: fourth!.id },
    });
    await peer.until(() => peer.frames(FRAMES.subscribed).length === 4);
    expect(peer.frames<SubscribedFrame>(FRAMES.subscribed)[3]).toMatchObject({
      recovered: true,
      start: 4,
      startId: fourth!.id,
    });
    // From earliest on a trimmed log: start 3 is not retained, so no id.
    peer.socket.emit(FRAMES.subscribe, { stream: "s", position: null, from: "earliest" });
    await peer.until(() => peer.frames(FRAMES.subscribed).length === 5);
    const fifth = peer.frames<SubscribedFrame>(FRAMES.subscribed)[4]!;
    expect(fifth).toMatchObject({ recovered: true, start: 3 });
    expect(fifth).not.toHaveProperty("startId");
  });
});

describe("position id validation (G12)", () => {
  const epoch = "e";
  const bad: [unknown, string][] = [
    [5, "INVALID_ARGUMENT"],
    ["", "INVALID_ARGUMENT"],
    [null, "INVALID_ARGUMENT"],
    ["x".repeat(300), "INVALID_ARGUMENT"],
    ["\ud800", "INVALID_ARGUMENT"],
    [["a"], "INVALID_ARGUMENT"],
  ];

  it("parseSubscribeRequest refuses a malformed id with a typed error and keeps a good one", () => {
    for (const [id, code] of bad) {
      let error: unknown;
      try {
        parseSubscribeRequest({ stream: "s", position: { epoch, offset: 3, id } });
      } catch (e) {
        error = e;
      }
      expect(isAssuredError(error) && error.code, JSON.stringify(id)).toBe(code);
    }
    expect(() =>
      parseSubscribeRequest({ stream: "s", position: { epoch, offset: 0, id: "a" } }),
    ).toThrow(/offset 0/);
    expect(
      parseSubscribeRequest({ stream: "s", position: { epoch, offset: 3, id: "a", x: 1 } }),
    ).toEqual({ stream: "s", position: { epoch, offset: 3, id: "a" }, from: "head" });
    expect(parseSubscribeRequest({ stream: "s", position: { epoch, offset: 3 } })).toEqual({
      stream: "s",
      position: { epoch, offset: 3 },
      from: "head",
    });
  });

  it("a bad id in the handshake or in assured:sub gets a sub-error; the server keeps serving", async () => {
    const store = new MemoryEventStore();
    await seed(store, "s", 3);
    server = await startAssured({ store });
    const peer = await server.connect(
      assuredAuth([
        { stream: "a", position: { epoch, offset: 3, id: 7 }, from: "head" },
        { stream: "s", position: null, from: "earliest" },
      ]),
    );
    const error = await peer.next<SubscribeErrorFrame>(FRAMES.subscribeError);
    expect(error.stream).toBe("a");
    expect(error.error.code).toBe("INVALID_ARGUMENT");
    await peer.until(() => peer.offsets("s").length === 3);
    for (const [id] of bad) {
      peer.socket.emit(FRAMES.subscribe, { stream: "b", position: { epoch, offset: 3, id } });
    }
    await peer.until(() => peer.frames(FRAMES.subscribeError).length === bad.length + 1);
    expect(
      peer.frames<SubscribeErrorFrame>(FRAMES.subscribeError).map((f) => f.error.code),
    ).toEqual(Array(bad.length + 1).fill("INVALID_ARGUMENT"));
    await server.assured.publish("s", "e", 4);
    await peer.until(() => peer.offsets("s").includes(4));
  });
});
