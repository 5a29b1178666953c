import type {
  AppendEntry,
  AppendResult,
  EventStore,
  ReadResult,
  StreamHead,
} from "@assured/core/store";
import fc from "fast-check";
import { appendEntry, type BigBatch, bigBatchEntries } from "./event-arbitraries.js";
import { checkRecord, checkState, type ModelWorld } from "./event-checks.js";
import type { ModelRecord, ModelState } from "./event-log-model.js";
import { show, violation } from "./violation.js";

/** One operation of a concurrent round, on instance `instance` (modulo the instances open). */
export type RoundOp =
  | { kind: "append"; instance: number; stream: number; batch: readonly AppendEntry[] | BigBatch }
  | { kind: "read"; instance: number; stream: number; after: number; limit: number }
  | { kind: "head"; instance: number; stream: number };

const instance = fc.nat(2);
const stream = fc.nat(2);

const appendOp = fc.record({
  kind: fc.constant("append" as const),
  instance,
  stream,
  batch: fc.oneof(
    { weight: 4, arbitrary: fc.array(appendEntry, { minLength: 1, maxLength: 6 }) },
    {
      weight: 1,
      arbitrary: fc.record({
        count: fc.integer({ min: 20, max: 150 }),
        prefix: fc.option(fc.constantFrom("big", "a"), { nil: undefined }),
      }),
    },
  ),
});

const readOp = fc.record({
  kind: fc.constant("read" as const),
  instance,
  stream,
  after: fc.oneof(fc.nat(5), fc.nat(400)),
  limit: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 1_000 })),
});

const headOp = fc.record({ kind: fc.constant("head" as const), instance, stream });

/** 1–4 rounds of 2–10 operations each, issued without awaiting in between. */
export const concurrentRounds: fc.Arbitrary<RoundOp[][]> = fc.array(
  fc.array(
    fc.oneof(
      { weight: 3, arbitrary: appendOp },
      { weight: 2, arbitrary: readOp },
      { weight: 1, arbitrary: headOp },
    ),
    { minLength: 2, maxLength: 10 },
  ),
  { minLength: 1, maxLength: 4 },
);

type Outcome =
  | { op: RoundOp; entries: readonly AppendEntry[]; results: AppendResult[] }
  | { op: Extract<RoundOp, { kind: "read" }>; page: ReadResult }
  | { op: Extract<RoundOp, { kind: "head" }>; state: StreamHead };

/** Issues every operation of a round at once (`Promise.all`), each on its instance. */
async function issue(
  ops: readonly RoundOp[],
  instances: readonly EventStore[],
  streams: readonly string[],
): Promise<Outcome[]> {
  return Promise.all(
    ops.map(async (op): Promise<Outcome> => {
      const store = instances[op.instance % instances.length]!;
      const name = streams[op.stream % streams.length]!;
      if (op.kind === "append") {
        const entries = Array.isArray(op.batch) ? op.batch : bigBatchEntries(op.batch as BigBatch);
        return { op, entries, results: await store.append(name, entries) };
      }
      if (op.kind === "read") {
        return { op, page: await store.read(name, { after: op.after, limit: op.limit }) };
      }
      return { op, state: await store.head(name) };
    }),
  );
}

const CONCURRENT_IDS =
  "concurrent appends of an id the stream does not hold append it exactly once; every other entry with that id is a duplicate of that offset";

/**
 * Checks the appends of one stream in a round and adds them to the model in the order their
 * offsets give (any serialization the results are consistent with). The new offsets must be
 * exactly head + 1… head + n, one per new event.
 */
function placeAppends(world: ModelWorld, name: string, outcomes: readonly Outcome[]): void {
  const now = world.now();
  const appends = outcomes.flatMap((o) => ("results" in o ? [o] : []));
  if (appends.length === 0) return;
  const fresh: ModelRecord[] = [];
  const byId = new Map<string, { offset: number; duplicate: boolean }[]>();
  const epochs = new Set<unknown>();
  for (const { entries, results } of appends) {
    const what = `concurrent append to ${show(name)}`;
    if (results.length !== entries.length) {
      throw violation(
        "Append results",
        "one result per entry",
        what,
        `${results.length} results for ${entries.length} entries`,
      );
    }
    entries.forEach((entry, i) => {
      const result = results[i]!;
      epochs.add(result.epoch);
      if (entry.id !== undefined) {
        if (result.id !== entry.id) {
          throw violation(
            "Append results",
            "a result carries the entry's id",
            what,
            `id ${show(result.id)} for ${show(entry.id)}`,
          );
        }
        byId.set(entry.id, [...(byId.get(entry.id) ?? []), result]);
      } else if (
        result.duplicate ||
        typeof result.id !== "string" ||
        result.id === "" ||
        world.model.heldOffset(name, result.id, now) !== undefined
      ) {
        throw violation(
          "Generated ids",
          "an entry without an id is appended with a new id, unique in the stream",
          what,
          `${show(result.id)}, duplicate: ${result.duplicate}`,
        );
      }
      if (!result.duplicate) {
        fresh.push({
          offset: result.offset,
          id: result.id,
          name: entry.name,
          payload: entry.payload,
          time: now,
        });
      }
    });
  }
  const before = world.model.state(name, now);
  fresh.sort((a, b) => a.offset - b.offset);
  const offsets = fresh.map((r) => r.offset);
  const wanted = offsets.map((_, i) => before.head + 1 + i);
  if (offsets.some((o, i) => o !== wanted[i])) {
    throw violation(
      "Offsets",
      "concurrent appends get the offsets head + 1… head + n, each exactly once (gapless, unique)",
      `concurrent appends to ${show(name)} after head ${before.head}`,
      `new offsets ${show(offsets)}`,
    );
  }
  for (const [id, answers] of byId) {
    const held = world.model.heldOffset(name, id, now);
    const first = answers.filter((a) => !a.duplicate);
    const original = held ?? first[0]?.offset;
    const once = held === undefined ? first.length === 1 : first.length === 0;
    if (!once || answers.some((a) => a.offset !== original)) {
      throw violation(
        "Idempotent append",
        CONCURRENT_IDS,
        `id ${show(id)} in concurrent appends to ${show(name)}${held === undefined ? "" : ` (held at offset ${held})`}`,
        answers.map((a) => `${a.offset}${a.duplicate ? " (duplicate)" : ""}`).join(", "),
      );
    }
  }
  if (new Set(fresh.map((r) => r.id)).size !== fresh.length) {
    throw violation(
      "Generated ids",
      "ids are unique in the stream",
      `concurrent appends to ${show(name)}`,
      `a repeated id among ${show(fresh.map((r) => r.id))}`,
    );
  }
  world.model.place(name, fresh, now);
  if (epochs.size !== 1) {
    throw violation(
      "Epochs",
      "appends to one log share its epoch",
      `concurrent appends to ${show(name)}`,
      `epochs ${show([...epochs])}`,
    );
  }
  const generation = world.model.state(name, now).generation;
  world.epochs.check(name, generation, [...epochs][0], `concurrent appends to ${show(name)}`);
}

/**
 * Checks a state a concurrent read or head saw: a head between the one before the round and the
 * one after, the log's epoch (or none yet, if the log was made in this round).
 */
function checkSeenState(
  world: ModelWorld,
  name: string,
  seen: StreamHead,
  before: ModelState,
  what: string,
): void {
  const after = world.model.state(name, world.now());
  if (seen.head < before.head || seen.head > after.head) {
    throw violation(
      "Heads",
      "a concurrent read sees a head between the one before and the one after the appends",
      what,
      `head ${show(seen.head)} (before ${before.head}, after ${after.head})`,
    );
  }
  const unborn = before.generation === 0 && seen.head === 0 && seen.epoch === "";
  const state = unborn
    ? { generation: 0, head: 0, earliest: 1 }
    : { ...after, head: seen.head, earliest: 1 };
  checkState(world, name, seen, state, what);
}

/** Checks the reads and heads of a round against the model after the round's appends. */
function checkSeen(
  world: ModelWorld,
  streams: readonly string[],
  outcomes: readonly Outcome[],
  before: Map<string, ModelState>,
): void {
  for (const outcome of outcomes) {
    if ("results" in outcome) continue;
    const name = streams[outcome.op.stream % streams.length]!;
    if ("state" in outcome) {
      checkSeenState(
        world,
        name,
        outcome.state,
        before.get(name)!,
        `concurrent head(${show(name)})`,
      );
      continue;
    }
    const { after, limit } = outcome.op;
    const what = `concurrent read(${show(name)}, { after: ${after}, limit: ${limit} })`;
    const page = outcome.page;
    checkSeenState(world, name, page, before.get(name)!, what);
    const expected = world.model
      .read(name, after, limit, world.now())
      .records.filter((r) => r.offset <= page.head);
    const offsets = page.records.map((r) => r.offset);
    if (offsets.length !== expected.length || offsets.some((o, i) => o !== expected[i]!.offset)) {
      throw violation(
        "Prefix visibility",
        "a read returns every record after its position up to the head it reports (up to limit), never n + 1 without n",
        what,
        `offsets ${show(offsets)} with head ${page.head}; the final log has ${show(expected.map((r) => r.offset))}`,
      );
    }
    for (const [i, record] of page.records.entries()) checkRecord(name, record, expected[i]!, what);
  }
}

/** Runs one round on the instances and checks it against the model (then updated). */
export async function runRound(
  world: ModelWorld,
  streams: readonly string[],
  instances: readonly EventStore[],
  ops: readonly RoundOp[],
): Promise<void> {
  const now = world.now();
  const before = new Map(streams.map((name) => [name, world.model.state(name, now)]));
  const outcomes = await issue(ops, instances, streams);
  for (const [index, name] of streams.entries()) {
    placeAppends(
      world,
      name,
      outcomes.filter((o) => o.op.stream % streams.length === index),
    );
  }
  checkSeen(world, streams, outcomes, before);
}
