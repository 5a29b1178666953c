import type { EventRecord } from "@assured/core";
import type { AppendEntry, AppendResult, ReadResult, StreamHead } from "@assured/core/store";
import type { EpochBook } from "./event-epoch-book.js";
import type { EventLogModel, ModelEntry, ModelRecord, ModelState } from "./event-log-model.js";
import { show, violation } from "./violation.js";

/** The model, the epochs seen and the clock: what every check compares a store result with. */
export interface ModelWorld {
  readonly model: EventLogModel;
  readonly epochs: EpochBook;
  /** The current time of the case's clock (the store's clock). */
  now(): number;
}

const HEADS =
  "head is the newest offset appended in the epoch (0 if none) and earliest the oldest retained one (head + 1 when none is retained)";
const RETENTION =
  "retention keeps at most maxLength newest events and trims an event once now - time > maxAgeMs by the store's clock, before any call looks at the log";
const OFFSETS = "append gives the next offsets head + 1, head + 2… (gapless, one per new event)";
const IDEMPOTENT =
  "an entry whose id the stream holds (its event retained) appends nothing and returns the original offset with duplicate: true (also for a second equal id in one batch)";
const TRIMMED =
  "an id is held only while its event is retained: an id never appended in this epoch, or whose event was trimmed (offset < earliest), appends a new event with duplicate: false";
const READS =
  "read returns the retained records from max(after + 1, earliest), consecutive, as many as exist up to limit";
const RECORDS =
  "a record holds what was appended: stream, offset, id, name, the payload's bytes and the append time from the store's clock";

/** Checks an append's results against the model, then applies the append to it. */
export function checkAppend(
  world: ModelWorld,
  stream: string,
  entries: readonly AppendEntry[],
  results: readonly AppendResult[],
  what: string,
): void {
  const now = world.now();
  if (!Array.isArray(results) || results.length !== entries.length) {
    throw violation(
      "Append results",
      "append resolves with one result per entry, in order",
      what,
      `${show((results as unknown[])?.length)} results for ${entries.length} entries`,
    );
  }
  const before = world.model.state(stream, now);
  const modelEntries = entries.map((entry, i) =>
    modelEntry(world, stream, entry, results, i, what),
  );
  const reappended = new Set(
    entries.flatMap((entry, i) => (entry.id !== undefined && !results[i]!.duplicate ? [i] : [])),
  );
  const expected = world.model.append(stream, modelEntries, now, reappended);
  expected.results.forEach((want, i) => {
    const got = results[i]!;
    const label = `${what}, entry ${i} (id ${show(modelEntries[i]!.id)})`;
    if (got.duplicate !== want.duplicate || got.offset !== want.offset) {
      const answer = `offset ${show(got.offset)}, duplicate: ${show(got.duplicate)}; the model expected offset ${want.offset}, duplicate: ${want.duplicate}`;
      if (got.duplicate === true && !want.duplicate) {
        const trimmed = typeof got.offset === "number" && got.offset < before.earliest;
        throw violation(trimmed ? "Trimmed ids" : "Idempotent append", TRIMMED, label, answer);
      }
      throw violation(
        want.duplicate ? "Idempotent append" : "Offsets",
        want.duplicate ? IDEMPOTENT : OFFSETS,
        label,
        answer,
      );
    }
    world.epochs.check(stream, expected.generation, got.epoch, label);
  });
  const forbidden = expected.forbiddenReappends[0];
  if (forbidden !== undefined) {
    throw violation(
      "Idempotent append",
      `${IDEMPOTENT}; appending it again is allowed only when the same append's new events push its event out of maxLength`,
      `${what}, entry ${forbidden} (id ${show(modelEntries[forbidden]!.id)})`,
      `duplicate: false at offset ${results[forbidden]!.offset} while the id's earlier event is still retained`,
    );
  }
}

/** The entry as the model sees it; a generated id must be a new, non-empty string. */
function modelEntry(
  world: ModelWorld,
  stream: string,
  entry: AppendEntry,
  results: readonly AppendResult[],
  index: number,
  what: string,
): ModelEntry {
  const result = results[index]!;
  if (entry.id !== undefined) {
    if (result.id !== entry.id) {
      throw violation(
        "Append results",
        "a result carries the entry's id",
        `${what}, entry ${index}`,
        `id ${show(result.id)} for ${show(entry.id)}`,
      );
    }
    return { id: entry.id, given: true, name: entry.name, payload: entry.payload };
  }
  const id = result.id;
  const reused =
    typeof id === "string" &&
    (world.model.heldOffset(stream, id, world.now()) !== undefined ||
      results.some((other, i) => i !== index && other.id === id));
  if (typeof id !== "string" || id === "" || reused) {
    throw violation(
      "Generated ids",
      "an entry without an id gets a new id, unique in the stream",
      `${what}, entry ${index}`,
      `id ${show(id)}${reused ? ", which the stream already holds" : ""}`,
    );
  }
  return { id, given: false, name: entry.name, payload: entry.payload };
}

/** Checks a stream state (from `head` or `read`) against the model's. */
export function checkState(
  world: ModelWorld,
  stream: string,
  state: StreamHead,
  expected: ModelState,
  what: string,
): void {
  world.epochs.check(stream, expected.generation, state.epoch, what);
  if (state.head !== expected.head) {
    throw violation(
      "Heads",
      HEADS,
      what,
      `head ${show(state.head)}, the model has ${expected.head}`,
    );
  }
  if (state.earliest !== expected.earliest) {
    const retains = Object.keys(world.model.retention).length > 0;
    throw violation(
      retains ? "Retention" : "Heads",
      retains ? RETENTION : HEADS,
      what,
      `earliest ${show(state.earliest)}, the model has ${expected.earliest} (head ${expected.head})`,
    );
  }
}

/** Checks `head(stream)` against the model. */
export function checkHead(
  world: ModelWorld,
  stream: string,
  state: StreamHead,
  what: string,
): void {
  checkState(world, stream, state, world.model.state(stream, world.now()), what);
}

/** Checks `read(stream, { after, limit })` against the model. */
export function checkRead(
  world: ModelWorld,
  stream: string,
  after: number,
  limit: number,
  page: ReadResult,
  what: string,
): void {
  const expected = world.model.read(stream, after, limit, world.now());
  checkState(world, stream, page, expected, what);
  const records = page.records;
  if (!Array.isArray(records)) throw violation("Reads", READS, what, `records ${show(records)}`);
  const offsets = records.map((r) => r.offset);
  const wanted = expected.records.map((r) => r.offset);
  if (offsets.length !== wanted.length || offsets.some((o, i) => o !== wanted[i])) {
    throw violation(
      "Reads",
      READS,
      what,
      `${offsets.length} records at offsets ${show(offsets)}; the model has ${wanted.length} at ${show(wanted)} (earliest ${expected.earliest}, head ${expected.head})`,
    );
  }
  for (const [i, record] of records.entries()) {
    checkRecord(stream, record, expected.records[i]!, what);
  }
}

/** Checks one record's fields against the model's record. */
export function checkRecord(
  stream: string,
  record: EventRecord,
  expected: ModelRecord,
  what: string,
): void {
  const label = `${what}, record at offset ${expected.offset}`;
  const fields: [string, unknown, unknown][] = [
    ["stream", record.stream, stream],
    ["id", record.id, expected.id],
    ["name", record.name, expected.name],
    ["time", record.time, expected.time],
  ];
  for (const [field, got, want] of fields) {
    if (got !== want)
      throw violation("Records", RECORDS, label, `${field} ${show(got)}, expected ${show(want)}`);
  }
  const payload = record.payload;
  const same =
    payload instanceof Uint8Array &&
    payload.byteLength === expected.payload.byteLength &&
    payload.every((byte, i) => byte === expected.payload[i]);
  if (!same) {
    throw violation(
      "Records",
      RECORDS,
      label,
      `payload ${show(payload)}, expected ${show(expected.payload)}`,
    );
  }
}

/** Checks a reset's answer (a new epoch at head 0) and applies it to the model. */
export function checkReset(
  world: ModelWorld,
  stream: string,
  state: StreamHead,
  what: string,
): void {
  const generation = world.model.reset(stream);
  checkState(world, stream, state, { generation, head: 0, earliest: 1 }, what);
}
