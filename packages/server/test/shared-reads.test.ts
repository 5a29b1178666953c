import { decode, MemoryEventStore } from "@assured/core";
import { FRAMES, unpackRecords, type WirePage } from "@assured/core/protocol";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { ReadPacer } from "../src/read-pacer.js";
import { pageKey, SharedReads } from "../src/shared-reads.js";
import { assuredAuth, range, seed, startAssured } from "./harness.js";

/** Resolves once the current turn of the event loop and `n` more ran. */
function turns(n: number): Promise<void> {
  return new Promise((resolve) => {
    const step = (left: number) => (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
    step(n);
  });
}

/** Busy for `ms`, as a synchronous store's read is. */
function work(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

/** A request that is always wanted. */
const wanted = () => true;

describe("SharedReads", () => {
  it("answers requests for a page made while its read waits for a turn with that one read", async () => {
    // A slice of 0 ms: the first read of a turn starts at once, every later one waits.
    const shared = new SharedReads(new ReadPacer(0));
    const started: string[] = [];
    const read = (key: string) => () => {
      started.push(key);
      return Promise.resolve({ key, n: started.length });
    };
    const first = shared.run("a", read("a"), wanted);
    const waiting = [shared.run("a", read("a"), wanted), shared.run("a", read("a"), wanted)];
    const other = shared.run("b", read("b"), wanted);
    const unshared = shared.run(undefined, read("x"), wanted);
    expect(shared.waiting).toBe(2);
    expect(await first).toEqual({ key: "a", n: 1 });
    const [second, third] = await Promise.all(waiting);
    // The two waiting requests for "a" got one read, which started after both were made.
    expect(second).toBe(third);
    expect(started.filter((k) => k === "a")).toHaveLength(2);
    expect(await other).toMatchObject({ key: "b" });
    expect(await unshared).toMatchObject({ key: "x" });
    expect(shared.waiting).toBe(0);
  });

  it("does not join a read that has started: a later request reads again", async () => {
    const shared = new SharedReads(new ReadPacer(0));
    let reads = 0;
    let release!: () => void;
    const slow = () => {
      reads++;
      return new Promise<number>((resolve) => {
        release = () => resolve(reads);
      });
    };
    void shared.run("a", () => Promise.resolve(0), wanted); // takes the turn's slice
    const waited = shared.run("a", slow, wanted);
    await turns(2); // the waiting read started
    expect(reads).toBe(1);
    expect(shared.waiting).toBe(0);
    const later = shared.run("a", () => Promise.resolve(-1), wanted);
    release();
    expect(await waited).toBe(1);
    expect(await later).toBe(-1);
  });

  it("skips a waiting read that no request wants any more when its turn comes", async () => {
    const shared = new SharedReads(new ReadPacer(0));
    let reads = 0;
    const read = () => {
      reads++;
      return Promise.resolve("page");
    };
    await shared.run("a", read, wanted); // takes the turn's slice
    let firstWanted = true;
    let secondWanted = true;
    const first = shared.run("a", read, () => firstWanted);
    const second = shared.run("a", read, () => secondWanted);
    const gone = shared.run(undefined, read, () => false);
    firstWanted = false; // its socket left: the other request still wants the page
    expect(await Promise.all([first, second, gone])).toEqual(["page", "page", undefined]);
    expect(reads).toBe(2);
    secondWanted = false;
    firstWanted = false;
    await shared.run("b", read, wanted); // a new turn's slice
    const nobody = [shared.run("b", read, () => firstWanted), shared.run("b", read, () => false)];
    expect(await Promise.all(nobody)).toEqual([undefined, undefined]);
    expect(reads).toBe(3);
    expect(shared.waiting).toBe(0);
  });

  it("leaves no waiting read behind when its turn fails, so later requests read again", async () => {
    const failing = {
      turn: () => Promise.reject(new Error("pacer failed")),
    } as unknown as ReadPacer;
    const shared = new SharedReads(failing);
    const read = () => Promise.resolve("page");
    await expect(shared.run("a", read, wanted)).rejects.toThrow("pacer failed");
    expect(shared.waiting).toBe(0);
  });

  it("answers requests for a page whose read is running with one read, started once it ended", async () => {
    // A slice that never runs out: reads start at once, as a store's that reads over the network.
    const shared = new SharedReads(new ReadPacer(60_000));
    const started: number[] = [];
    const releases: (() => void)[] = [];
    const read = () => {
      const n = started.push(started.length + 1);
      return new Promise<number>((resolve) => releases.push(() => resolve(n)));
    };
    const first = shared.run("a", read, wanted);
    expect(started).toEqual([1]);
    const behind = [shared.run("a", read, wanted), shared.run("a", read, wanted)];
    const other = shared.run("b", read, wanted); // another page does not wait
    expect(started).toEqual([1, 2]);
    expect(shared.waiting).toBe(1);
    await turns(2);
    expect(started).toEqual([1, 2]); // still waiting for the running read of "a"
    releases[0]!();
    expect(await first).toBe(1);
    await turns(2);
    expect(started).toEqual([1, 2, 3]); // one read for both requests, after the first ended
    releases[2]!();
    expect(await Promise.all(behind)).toEqual([3, 3]);
    releases[1]!();
    expect(await other).toBe(2);
    expect(shared.waiting).toBe(0);
  });

  it("waits at most runningWaitMs for a running read, and reads after a failed one", async () => {
    const shared = new SharedReads(new ReadPacer(60_000), 20);
    const hung = shared.run("a", () => new Promise<string>(() => {}), wanted);
    void hung;
    const waitedFrom = performance.now();
    expect(await shared.run("a", () => Promise.resolve("own"), wanted)).toBe("own");
    expect(performance.now() - waitedFrom).toBeGreaterThanOrEqual(15);
    let fail!: (error: Error) => void;
    const failing = shared.run(
      "b",
      () => new Promise<string>((_, reject) => (fail = reject)),
      wanted,
    );
    const behind = shared.run("b", () => Promise.resolve("read again"), wanted);
    fail(new Error("store down"));
    await expect(failing).rejects.toThrow("store down");
    expect(await behind).toBe("read again");
  });

  it("property: with reads that take turns to answer, every request is answered once, by a read of its key started after it", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.array(
            fc.record({
              key: fc.constantFrom("a", "b", undefined),
              turns: fc.integer({ min: 0, max: 3 }),
              fails: fc.boolean(),
            }),
            { maxLength: 5 },
          ),
          { minLength: 1, maxLength: 6 },
        ),
        fc.constantFrom(0, 60_000),
        fc.constantFrom(0, 2, 250),
        async (bursts, sliceMs, runningWaitMs) => {
          const shared = new SharedReads(new ReadPacer(sliceMs), runningWaitMs);
          let clock = 0;
          let requests = 0;
          let reads = 0;
          const answers: Promise<void>[] = [];
          for (const burst of bursts) {
            for (const { key, turns: readTurns, fails } of burst) {
              const askedAt = ++clock;
              requests++;
              const answer = shared.run(
                key,
                async () => {
                  reads++;
                  const startedAt = ++clock;
                  await turns(readTurns);
                  if (fails) throw new Error(`read ${startedAt} failed`);
                  return { key, startedAt };
                },
                wanted,
              );
              answers.push(
                answer.then(
                  (result) => {
                    expect(result?.key).toBe(key);
                    expect(result?.startedAt).toBeGreaterThan(askedAt);
                  },
                  (error: Error) => {
                    const startedAt = Number(/read (\d+) failed/.exec(error.message)?.[1]);
                    expect(startedAt).toBeGreaterThan(askedAt);
                  },
                ),
              );
            }
            await turns(1);
          }
          await Promise.all(answers);
          expect(reads).toBeLessThanOrEqual(requests);
          expect(shared.waiting).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("keys a page by stream, epoch, start and limit, whatever characters they hold", () => {
    expect(pageKey("s", "e", 1, 10)).not.toBe(pageKey("s", "e", 11, 0));
    expect(pageKey('a","b', "e", 1, 1)).not.toBe(pageKey("a", 'b","e', 1, 1));
    expect(pageKey("s", "e", 1, 10)).toBe(pageKey("s", "e", 1, 10));
  });
});

/** A memory store with `s` seeded (300 events) whose page reads go through `wrap`, counted. */
async function countedStore(
  wrap: (
    read: () => ReturnType<MemoryEventStore["readPacked"]>,
  ) => ReturnType<MemoryEventStore["readPacked"]>,
): Promise<{ store: MemoryEventStore; epoch: string; reads: () => number }> {
  const store = new MemoryEventStore();
  await seed(store, "s", 300);
  const { epoch } = await store.head("s");
  let reads = 0;
  const readPacked = store.readPacked.bind(store);
  store.readPacked = (stream, options) => {
    reads++;
    return wrap(() => readPacked(stream, options));
  };
  return { store, epoch, reads: () => reads };
}

/** Fetches offsets 101–250 of `s` and checks the reply holds them. */
async function fetchChecked(
  peer: { request<T>(event: string, body: unknown): Promise<T> },
  epoch: string,
): Promise<void> {
  const reply = await peer.request<{ ok: true; head: number; records: WirePage }>(FRAMES.fetch, {
    stream: "s",
    epoch,
    after: 100,
    limit: 150,
  });
  expect(reply).toMatchObject({ ok: true, head: 300 });
  const records = unpackRecords("s", reply.records).records;
  expect(records.map((r) => r.offset)).toEqual(range(101, 250));
  expect(records.map((r) => decode(r.payload))).toEqual(range(101, 250));
}

describe("catch-up pages shared between sockets", () => {
  let server: Awaited<ReturnType<typeof startAssured>> | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("one store read answers the sockets fetching the same page while it waits for its turn", async () => {
    // A synchronous store's read, longer than a turn's slice: the fetches behind it wait.
    const { store, epoch, reads } = await countedStore((read) => {
      work(15);
      return read();
    });
    server = await startAssured({ store });
    const peers = await Promise.all(range(1, 20).map(() => server!.connect(assuredAuth())));
    await Promise.all(peers.map((peer) => fetchChecked(peer, epoch)));
    expect(reads()).toBeLessThan(peers.length / 2);
  });

  it("one store read answers the sockets fetching a page while a read of it runs (a store that reads over the network)", async () => {
    // Starts in microseconds and answers 100 ms later, as Redis or PostgreSQL do (slowly).
    const { store, epoch, reads } = await countedStore(async (read) => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return read();
    });
    server = await startAssured({ store });
    const peers = await Promise.all(range(1, 20).map(() => server!.connect(assuredAuth())));
    const first = fetchChecked(peers[0]!, epoch);
    await new Promise((resolve) => setTimeout(resolve, 5)); // its read is running
    await Promise.all([first, ...peers.slice(1).map((peer) => fetchChecked(peer, epoch))]);
    expect(reads()).toBeLessThanOrEqual(3);
  });

  it("sends the pages one shared read answers over several turns when sending takes longer than a slice", async () => {
    const store = new MemoryEventStore();
    await seed(store, "s", 300);
    const readPacked = store.readPacked.bind(store);
    store.readPacked = (stream, options) => {
      work(15);
      return readPacked(stream, options);
    };
    server = await startAssured({ store });
    // Turns of the event loop, counted; and the turn each first page left the server in.
    let turn = 0;
    let counting = true;
    const count = () => {
      turn++;
      if (counting) setImmediate(count);
    };
    count();
    const sentIn: number[] = [];
    server.io.on("connection", (socket) => {
      const emit = socket.emit.bind(socket);
      socket.emit = ((event: string, ...args: unknown[]) => {
        if (event === FRAMES.subscribed) {
          work(4); // a page that costs 4 ms to encode and write
          sentIn.push(turn);
        }
        return emit(event, ...args);
      }) as typeof socket.emit;
    });
    const peers = await Promise.all(range(1, 12).map(() => server!.connect(assuredAuth())));
    for (const peer of peers) {
      peer.socket.emit(FRAMES.subscribe, { stream: "s", position: null, from: "earliest" });
    }
    await Promise.all(peers.map((peer) => peer.next(FRAMES.subscribed)));
    counting = false;
    for (const peer of peers) expect(peer.offsets("s").slice(0, 3)).toEqual([1, 2, 3]);
    const perTurn = new Map<number, number>();
    for (const t of sentIn) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    // A 10 ms slice holds at most three 4 ms sends (all twelve went in one turn before).
    expect(sentIn).toHaveLength(12);
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(3);
  });
});
