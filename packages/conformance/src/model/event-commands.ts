import type { AppendEntry, EventStore } from "@assured/core/store";
import fc from "fast-check";
import type { StoreFixture } from "../fixtures.js";
import {
  type AfterSpec,
  afterSpec,
  appendEntry,
  type BigBatch,
  bigBatch,
  bigBatchEntries,
  clockStep,
  readLimit,
} from "./event-arbitraries.js";
import { checkAppend, checkHead, checkRead, checkReset, type ModelWorld } from "./event-checks.js";
import { show } from "./violation.js";

/** The model side of a run: the model world, the run's stream names and its crashes so far. */
export interface ModelSide {
  world: ModelWorld;
  streams: readonly string[];
  crashes: number;
  /** `Date.now()` after which no command runs (the case's time is almost up). */
  readonly deadline: number;
}

/** Whether the run may go on: commands after the case's deadline are skipped. */
const inTime = (model: Readonly<ModelSide>) => Date.now() < model.deadline;

/**
 * Most crashes in one run. A harness's crash may kill and restart a process (seconds each), so
 * crashes are rare (about one run in ten) and at most one per run.
 */
const MAX_CRASHES_PER_RUN = 1;

/** The store side of a run: the current instance (reopen and crash replace it). */
export interface StoreSide {
  store: EventStore;
  readonly fixture: StoreFixture<EventStore>;
}

/** One step of a model-based run. */
export type StoreCommand = fc.AsyncCommand<ModelSide, StoreSide>;

const streamOf = (model: ModelSide, index: number) => model.streams[index % model.streams.length]!;

class Append implements StoreCommand {
  constructor(
    readonly stream: number,
    readonly entries: readonly AppendEntry[],
    readonly label: string,
  ) {}
  check = inTime;
  async run(model: ModelSide, real: StoreSide): Promise<void> {
    const stream = streamOf(model, this.stream);
    const results = await real.store.append(stream, this.entries);
    checkAppend(model.world, stream, this.entries, results, `append to ${show(stream)}`);
  }
  toString(): string {
    return `append(${this.stream}, ${this.label})`;
  }
}

function smallBatchLabel(entries: readonly AppendEntry[]): string {
  return `[${entries.map((e) => (e.id === undefined ? "no id" : show(e.id))).join(", ")}]`;
}

function bigBatchLabel({ count, prefix }: BigBatch): string {
  return `${count} entries, ${prefix === undefined ? "no ids" : `ids ${show(prefix)}-0…`}`;
}

class Read implements StoreCommand {
  constructor(
    readonly stream: number,
    readonly after: AfterSpec,
    readonly limit: number,
  ) {}
  check = inTime;
  async run(model: ModelSide, real: StoreSide): Promise<void> {
    const stream = streamOf(model, this.stream);
    const state = model.world.model.state(stream, model.world.now());
    const base = { zero: 0, earliest: state.earliest, head: state.head }[this.after.from];
    const after = base + this.after.delta;
    if (after < 0) return; // a negative position is invalid; the invalid-argument cases cover it
    const page = await real.store.read(stream, { after, limit: this.limit });
    const what = `read(${show(stream)}, { after: ${after}, limit: ${this.limit} })`;
    checkRead(model.world, stream, after, this.limit, page, what);
  }
  toString(): string {
    const { from, delta } = this.after;
    return `read(${this.stream}, after ${from}${delta < 0 ? delta : `+${delta}`}, limit ${this.limit})`;
  }
}

class Head implements StoreCommand {
  constructor(readonly stream: number) {}
  check = inTime;
  async run(model: ModelSide, real: StoreSide): Promise<void> {
    const stream = streamOf(model, this.stream);
    checkHead(model.world, stream, await real.store.head(stream), `head(${show(stream)})`);
  }
  toString(): string {
    return `head(${this.stream})`;
  }
}

class Reset implements StoreCommand {
  constructor(readonly stream: number) {}
  check = inTime;
  async run(model: ModelSide, real: StoreSide): Promise<void> {
    const stream = streamOf(model, this.stream);
    checkReset(model.world, stream, await real.store.reset(stream), `reset(${show(stream)})`);
  }
  toString(): string {
    return `reset(${this.stream})`;
  }
}

class Advance implements StoreCommand {
  constructor(readonly ms: number) {}
  check = inTime;
  async run(_model: ModelSide, real: StoreSide): Promise<void> {
    real.fixture.clock.advance(this.ms);
  }
  toString(): string {
    return `advanceClock(${this.ms})`;
  }
}

/** Closes (or crashes) the instance and opens the data again; every stream must be as before. */
class Reopen implements StoreCommand {
  constructor(readonly crash: boolean) {}
  check = (model: Readonly<ModelSide>) =>
    inTime(model) && (!this.crash || model.crashes < MAX_CRASHES_PER_RUN);
  async run(model: ModelSide, real: StoreSide): Promise<void> {
    const old = real.store;
    if (this.crash) {
      model.crashes += 1;
      await real.fixture.crash(old);
    } else {
      await old.close();
    }
    real.store = await real.fixture.reopen(old);
    for (const stream of model.streams) {
      const what = `head(${show(stream)}) after ${this.crash ? "a crash" : "close"} and reopen (durability: a persistent store keeps every acknowledged write)`;
      checkHead(model.world, stream, await real.store.head(stream), what);
    }
  }
  toString(): string {
    return this.crash ? "crashAndReopen()" : "closeAndReopen()";
  }
}

/** Which optional commands a run may use. */
export interface CommandOptions {
  /** Close+reopen and crash+reopen (a persistent store whose harness can reopen). */
  reopen: boolean;
}

/** The commands of a model-based run: appends (small and big), reads, heads, resets, clock, reopen. */
export function storeCommands(options: CommandOptions): fc.Arbitrary<StoreCommand>[] {
  const stream = fc.nat(2);
  // Weights in tenths, so a crash can be rarer than every other command.
  const weighted: fc.WeightedArbitrary<StoreCommand>[] = [
    {
      weight: 80,
      arbitrary: fc
        .tuple(stream, fc.array(appendEntry, { minLength: 1, maxLength: 6 }))
        .map(([s, entries]) => new Append(s, entries, smallBatchLabel(entries))),
    },
    {
      weight: 20,
      arbitrary: fc
        .tuple(stream, bigBatch)
        .map(([s, batch]) => new Append(s, bigBatchEntries(batch), bigBatchLabel(batch))),
    },
    {
      weight: 60,
      arbitrary: fc.tuple(stream, afterSpec, readLimit).map(([s, a, l]) => new Read(s, a, l)),
    },
    { weight: 20, arbitrary: stream.map((s) => new Head(s)) },
    { weight: 10, arbitrary: stream.map((s) => new Reset(s)) },
    { weight: 20, arbitrary: clockStep.map((ms) => new Advance(ms)) },
  ];
  if (options.reopen) {
    weighted.push({ weight: 10, arbitrary: fc.constant(new Reopen(false)) });
    weighted.push({ weight: 1, arbitrary: fc.constant(new Reopen(true)) });
  }
  return [fc.oneof(...weighted)];
}
