/**
 * The world of the durability model (`durability.property.test.ts`): one real Assured server
 * on loopback, a shared `memoryStorage`, and a sequence of "page lives" (clients created one
 * after another on that storage). Steps act on it; `settle` brings everything to rest; `verify`
 * returns the violated invariants.
 */
import {
  type AssuredError,
  type ClientStorage,
  encode,
  memoryStorage,
  type RecoveryOutcome,
} from "@assured/core";
import type { Socket } from "socket.io-client";
import { type AssuredClient, createAssuredClient } from "../src/index.js";
import { TestServer, testSocket } from "./harness.js";

export const NAMES = ["a", "b"] as const;
export type Name = (typeof NAMES)[number];
/** Streams the application subscribes to itself (from "earliest"). */
export const CLIENT_STREAMS = ["room:1", "room:2"] as const;
/** The stream the server subscribes every socket to (from "head", before anything is published). */
export const INBOX = "inbox:1";
/** A stream nobody subscribes to: nothing of it may ever reach a handler. */
export const UNWATCHED = "room:9";
export const STREAMS = [...CLIENT_STREAMS, INBOX, UNWATCHED] as const;
export type StreamId = (typeof STREAMS)[number];

export type Step =
  /** Publishes `k` events named `name` (through the server, or straight into its store while it is down). */
  | { t: "publish"; stream: StreamId; name: Name; k: number }
  /** The application adds its handler of `name` (in this page life and every later one). */
  | { t: "register"; name: Name }
  /** The application subscribes to one of its streams (in this page life and every later one). */
  | { t: "subscribe"; stream: (typeof CLIENT_STREAMS)[number] }
  /** Closes the client and opens a new one on the same storage. */
  | { t: "reload" }
  | { t: "serverDown" }
  | { t: "serverUp" }
  /** `client.emit("op", …, { id })`, waiting only until it is stored. */
  | { t: "emit" }
  /** A second client ("tab") on the same storage emits one message and closes at once. */
  | { t: "tab" }
  /** The next handler call on `stream` throws (once). */
  | { t: "fault"; stream: StreamId }
  /** `client.resume` for every stream paused by a throwing handler. */
  | { t: "resume" }
  /** Waits (server up) until every stream is at its head or blocked, and every message ran. */
  | { t: "sync" };

export interface Config {
  /** Names with a handler from the start. */
  handlers: Name[];
  /** Streams the application subscribes to from the start. */
  streams: (typeof CLIENT_STREAMS)[number][];
  /** Handlers await a macrotask before resolving (else they are synchronous). */
  asyncHandlers: boolean;
  /** Seed of the clients' retry jitter. */
  seed: number;
}

interface Handled {
  stream: string;
  offset: number;
  name: string;
}

interface Life {
  n: number;
  client: AssuredClient;
  socket: Socket;
  closing: boolean;
  registered: Set<Name>;
  handled: Handled[];
  /** Streams reported HANDLER_ERROR and not resumed yet. */
  paused: Set<string>;
  running: Map<string, number>;
  errors: AssuredError[];
  outcomes: RecoveryOutcome[];
}

const WAIT_MS = 10_000;

/** Polls `check` (sync or async) until it is true; throws after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A seeded PRNG (mulberry32) for the clients' retry jitter. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class World {
  readonly server = new TestServer();
  readonly storage: ClientStorage = memoryStorage();
  readonly config: Config;
  up = false;
  /** Names of the published events per stream: `names[s][offset - 1]`. */
  readonly names = new Map<string, Name[]>(STREAMS.map((s) => [s, []]));
  readonly appHandlers: Set<Name>;
  readonly appStreams: Set<string>;
  readonly faults = new Set<string>();
  /** Ids emitted by the page lives, in emit order; and by short-lived tabs. */
  readonly emitted: string[] = [];
  readonly tabEmitted: string[] = [];
  /** Message ids in the order the server handler ran them. */
  readonly runs: string[] = [];
  readonly settledIds = new Set<string>();
  readonly lives: Life[] = [];
  readonly violations: string[] = [];
  readonly log: string[] = [];
  readonly #random: () => number;
  #tabs = 0;

  constructor(config: Config) {
    this.config = config;
    this.appHandlers = new Set(config.handlers);
    this.appStreams = new Set(config.streams);
    this.#random = prng(config.seed);
  }

  get life(): Life {
    return this.lives[this.lives.length - 1]!;
  }

  /** The streams a page life tracks: the application's and the server's. */
  tracked(): string[] {
    return [...this.appStreams, INBOX];
  }

  head(stream: string): number {
    return this.names.get(stream)!.length;
  }

  violation(text: string): void {
    this.violations.push(text);
  }

  async start(): Promise<void> {
    await this.#startServer();
    await this.#openLife();
    // The server subscribes from "head": wait for it before anything is published.
    await eventually(
      () => this.life.outcomes.some((o) => o.stream === INBOX),
      "the server's inbox subscription",
    );
  }

  async #startServer(): Promise<void> {
    await this.server.start();
    this.server.io.on("connection", (socket) => {
      this.server.assured.subscribe(socket, INBOX).catch(() => undefined);
    });
    this.server.assured.on("op", (data, { id }) => {
      this.runs.push(id);
      return { done: (data as { id: string }).id };
    });
    this.up = true;
  }

  async #openLife(): Promise<void> {
    const socket = testSocket(this.server.url);
    const client = createAssuredClient(socket, {
      storage: this.storage,
      ackTimeoutMs: 1000,
      retry: { initialMs: 10, maxMs: 100, factor: 2 },
      random: this.#random,
    });
    const life: Life = {
      n: this.lives.length,
      client,
      socket,
      closing: false,
      registered: new Set(),
      handled: [],
      paused: new Set(),
      running: new Map(),
      errors: [],
      outcomes: [],
    };
    this.lives.push(life);
    client.onError((error) => {
      life.errors.push(error);
      const stream = (error.details as { stream?: string } | undefined)?.stream;
      if (error.code === "HANDLER_ERROR" && stream !== undefined) life.paused.add(stream);
      if (error.code === "NO_HANDLER") {
        const name = (error.details as { name?: Name }).name;
        if (name !== undefined && life.registered.has(name)) {
          this.violation(`life ${life.n}: NO_HANDLER for ${name} on ${stream} while registered`);
        }
      }
    });
    client.onRecovery((outcome) => {
      life.outcomes.push(outcome);
      if (!outcome.recovered) {
        this.violation(`life ${life.n}: ${outcome.stream} not recovered (${outcome.reason})`);
      }
    });
    for (const name of this.appHandlers) this.#register(life, name);
    for (const stream of this.appStreams) client.subscribe(stream, { from: "earliest" });
    await client.connect();
  }

  #register(life: Life, name: Name): void {
    life.registered.add(name);
    type Meta = { stream: string; offset: number; name: string };
    const enter = (data: unknown, meta: Meta) => {
      const where = `life ${life.n}: ${meta.stream}@${meta.offset}`;
      if (life.closing) this.violation(`${where}: handler called after close()`);
      if (meta.name !== name) this.violation(`${where}: ${meta.name} given to the ${name} handler`);
      const published = this.names.get(meta.stream)?.[meta.offset - 1];
      if (published !== meta.name || (data as { name?: string }).name !== meta.name) {
        this.violation(`${where}: ${meta.name} handled, ${published} published`);
      }
      if ((life.running.get(meta.stream) ?? 0) > 0) {
        this.violation(`${where}: handlers of one stream overlap`);
      }
      if (this.faults.delete(meta.stream)) throw new Error(`injected fault at ${where}`);
      life.running.set(meta.stream, 1);
    };
    const done = (meta: Meta) => {
      life.handled.push({ stream: meta.stream, offset: meta.offset, name: meta.name });
      life.running.set(meta.stream, 0);
    };
    life.client.on(
      name,
      this.config.asyncHandlers
        ? async (data, meta) => {
            enter(data, meta);
            await new Promise((resolve) => setImmediate(resolve));
            done(meta);
          }
        : (data, meta) => {
            enter(data, meta);
            done(meta);
          },
    );
  }

  async run(step: Step): Promise<void> {
    this.log.push(JSON.stringify(step));
    switch (step.t) {
      case "publish":
        return this.#publish(step.stream, step.name, step.k);
      case "register":
        if (this.appHandlers.has(step.name)) return;
        this.appHandlers.add(step.name);
        return this.#register(this.life, step.name);
      case "subscribe":
        if (this.appStreams.has(step.stream)) return;
        this.appStreams.add(step.stream);
        return this.life.client.subscribe(step.stream, { from: "earliest" });
      case "reload":
        await this.#closeLife();
        return this.#openLife();
      case "serverDown":
        if (!this.up) return;
        this.up = false;
        return this.server.stop();
      case "serverUp":
        if (this.up) return;
        return this.#startServer();
      case "emit":
        return this.#emit(this.life.client, this.emitted);
      case "tab":
        return this.#tab();
      case "fault":
        this.faults.add(step.stream);
        return;
      case "resume":
        this.#resumePaused();
        return;
      case "sync":
        if (this.up) await eventually(() => this.#atRest(), "sync");
        return;
    }
  }

  async #publish(stream: string, name: Name, k: number): Promise<void> {
    const names = this.names.get(stream)!;
    for (let i = 0; i < k; i++) {
      const expected = names.length + 1;
      // Known before it can be delivered.
      names.push(name);
      const offset = this.up
        ? (await this.server.assured.publish(stream, name, { name })).offset
        : // Another node publishes while this one is down.
          (await this.server.store.append(stream, [{ name, payload: encode({ name }) }]))[0]!
            .offset;
      if (offset !== expected) throw new Error(`published ${stream}@${offset}, not ${expected}`);
    }
  }

  async #emit(client: AssuredClient, into: string[]): Promise<void> {
    const id = `m${this.emitted.length + this.tabEmitted.length + 1}`;
    into.push(id);
    const answer = client.emit("op", { id }, { id });
    answer.then(
      (value) => {
        this.settledIds.add(id);
        if ((value as { done?: string }).done !== id) {
          this.violation(`${id}: answered ${JSON.stringify(value)}`);
        }
      },
      (error: AssuredError) => {
        this.settledIds.add(id);
        if (error.code !== "CLOSED") this.violation(`${id}: emit rejected ${error.code}`);
      },
    );
    // The application goes on once the outbox has stored it.
    await eventually(
      () => this.settledIds.has(id) || client.pending().some((m) => m.id === id),
      `${id} stored`,
    );
  }

  async #tab(): Promise<void> {
    const socket = testSocket(this.server.url);
    const tab = createAssuredClient(socket, {
      storage: this.storage,
      ackTimeoutMs: 1000,
      retry: { initialMs: 10, maxMs: 100, factor: 2 },
      random: this.#random,
    });
    this.#tabs++;
    tab.onError(() => undefined);
    await tab.connect();
    await this.#emit(tab, this.tabEmitted);
    await tab.close();
  }

  #resumePaused(): void {
    const life = this.life;
    for (const stream of life.paused) life.client.resume(stream);
    life.paused.clear();
  }

  /** Every tracked stream at its head or blocked (no handler, paused); every message ran. */
  #atRest(): boolean {
    const life = this.life;
    for (const stream of this.tracked()) {
      const position = life.client.position(stream)?.offset;
      if (position === undefined) return false;
      const head = this.head(stream);
      if (position === head) continue;
      const next = this.names.get(stream)![position]!;
      if (!life.registered.has(next) || life.paused.has(stream)) continue;
      return false;
    }
    return [...this.emitted, ...this.tabEmitted].every((id) => this.runs.includes(id));
  }

  async #closeLife(): Promise<void> {
    const life = this.life;
    life.closing = true;
    await life.client.close();
  }

  /** Brings everything to rest: server up, every handler registered, paused streams resumed. */
  async settle(): Promise<void> {
    await this.run({ t: "serverUp" });
    for (const name of NAMES) await this.run({ t: "register", name });
    const life = this.life;
    const ids = [...this.emitted, ...this.tabEmitted];
    await eventually(
      () => {
        this.#resumePaused();
        return this.tracked().every(
          (s) => life.client.position(s)?.offset === this.head(s) && (life.running.get(s) ?? 0) === 0,
        );
      },
      "every stream at its head",
    );
    await eventually(() => ids.every((id) => this.runs.includes(id)), "every message run");
    for (const id of ids) {
      const result = await life.client.result(id);
      if (!result?.ok || (result.value as { done?: string }).done !== id) {
        this.violation(`${id}: result in the last page life is ${JSON.stringify(result)}`);
      }
    }
  }

  /** Closes the last client and the server. */
  async dispose(): Promise<void> {
    const life = this.lives[this.lives.length - 1];
    if (life) {
      life.closing = true;
      await life.client.close();
    }
    if (this.up) await this.server.stop();
    this.up = false;
  }

  /** The violated invariants (empty when the run is correct). */
  verify(): string[] {
    const out = [...this.violations];
    const everTracked = new Set([INBOX, ...this.appStreams]);
    for (const stream of STREAMS) {
      const head = this.head(stream);
      const perLife = this.lives.map((l) =>
        l.handled.filter((h) => h.stream === stream).map((h) => h.offset),
      );
      if (!everTracked.has(stream)) {
        if (perLife.some((l) => l.length > 0)) out.push(`${stream}: handled, never subscribed`);
        continue;
      }
      // Within a page life: 1 apart (in order, no duplicate, no hole). Across a reload: the
      // next life starts right after the last offset handled, or repeats that one (its
      // position may not have been saved when the page closed).
      let last = 0;
      perLife.forEach((offsets, n) => {
        offsets.forEach((offset, i) => {
          const ok = i === 0 ? offset === last + 1 || (offset === last && last > 0) : offset === last + 1;
          if (!ok) out.push(`${stream}: life ${n} handled ${offset} after ${last} (${offsets.join(",")})`);
          last = Math.max(last, offset);
        });
      });
      if (last !== head) out.push(`${stream}: handled up to ${last}, head ${head}`);
    }
    const ids = [...this.emitted, ...this.tabEmitted];
    for (const id of ids) {
      const count = this.runs.filter((r) => r === id).length;
      if (count !== 1) out.push(`${id}: ran ${count} times`);
    }
    for (const id of this.runs) if (!ids.includes(id)) out.push(`${id}: ran, never emitted`);
    const order = this.runs.filter((id) => this.emitted.includes(id));
    if (order.join() !== this.emitted.join()) {
      out.push(`page lives' messages ran as ${order.join()}, emitted ${this.emitted.join()}`);
    }
    return out;
  }

  /** What happened, for a failure message. */
  describe(): string {
    const lives = this.lives.map((l) => {
      const codes = l.errors.map((e) => e.code).join(",");
      const handled = l.handled.map((h) => `${h.stream}@${h.offset}`).join(" ");
      return `  life ${l.n}: registered ${[...l.registered].join(",")}; errors [${codes}]; handled ${handled}`;
    });
    const heads = STREAMS.map((s) => `${s}=${this.head(s)}`).join(" ");
    return [
      `config ${JSON.stringify(this.config)}`,
      `steps ${this.log.join(" ")}`,
      `heads ${heads}; emitted ${this.emitted.join(",")} tab ${this.tabEmitted.join(",")} (${this.#tabs} tabs); runs ${this.runs.join(",")}`,
      ...lives,
    ].join("\n");
  }
}
