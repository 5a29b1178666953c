/**
 * The world of the durability model (`durability.property.test.ts`): one real Assured server
 * on loopback, a shared `memoryStorage`, and a sequence of "page lives" (clients created one
 * after another on that storage). Steps act on it; `settle` brings everything to rest; `verify`
 * returns the violated invariants.
 */

import { type AssuredClient, createAssuredClient } from "@assured/client";
import { type AssuredError, encode, type RecoveryOutcome } from "@assured/core";
import { type ClientStorage, memoryStorage } from "@assured/core/protocol";
import type { Socket } from "socket.io-client";
import { SeededRandom } from "../../src/chaos/seeded-random.js";
import { eventually as pollUntil, TestServer, testSocket } from "./harness.js";

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
  /** The application emits again, with the same id, the `pick`-th message emitted so far. */
  | { t: "reemit"; pick: number }
  /** A short-lived second client ("tab") on the same storage emits one message and closes. */
  | { t: "tab" }
  /** A second client on the same storage that stays open (it adopts a closed life's messages). */
  | { t: "tabOpen" }
  | { t: "tabEmit" }
  | { t: "tabClose" }
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
  /** The server's message handler takes a few event-loop turns (so outages and reloads catch it running). */
  slowServer: boolean;
  /** Every storage call takes an event-loop turn (like IndexedDB), widening close/reload races. */
  slowStorage: boolean;
  /** Seed of the clients' retry jitter. */
  seed: number;
}

interface Handled {
  stream: string;
  offset: number;
  name: string;
  /** Its handler resolved after `close()` was called (it was running then). */
  late: boolean;
}

interface Life {
  n: number;
  client: AssuredClient;
  socket: Socket;
  closing: boolean;
  registered: Set<Name>;
  handled: Handled[];
  /**
   * Streams paused by a handler error, until `resume` or a reconnect: nothing may be delivered
   * (and after a reconnect they must go on without `resume`).
   */
  held: Set<string>;
  running: Map<string, number>;
  errors: AssuredError[];
  outcomes: RecoveryOutcome[];
}

const WAIT_MS = 10_000;
/**
 * Errors a page life may report: the model's own (a name without handler, an injected fault),
 * and the load-dependent retryable ones (a fetch or subscription retried later).
 */
const EXPECTED_CODES: ReadonlySet<string> = new Set([
  "NO_HANDLER",
  "HANDLER_ERROR",
  "TIMEOUT",
  "RATE_LIMITED",
]);

/** Polls `check` until it is true, for at most `WAIT_MS`. */
export function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  return pollUntil(check, what, WAIT_MS);
}

/** `storage` with every call answered a macrotask later. */
function slowStorage(storage: ClientStorage): ClientStorage {
  const later = async <T>(call: () => Promise<T>): Promise<T> => {
    await new Promise((resolve) => setImmediate(resolve));
    return call();
  };
  return {
    get: (key) => later(() => storage.get(key)),
    set: (key, value) => later(() => storage.set(key, value)),
    remove: (key) => later(() => storage.remove(key)),
    batch: (writes) => later(() => storage.batch!(writes)),
  };
}

export class World {
  readonly server = new TestServer();
  readonly storage: ClientStorage;
  readonly config: Config;
  up = false;
  /** Names of the published events per stream: `names[s][offset - 1]`. */
  readonly names = new Map<string, Name[]>(STREAMS.map((s) => [s, []]));
  readonly appHandlers: Set<Name>;
  readonly appStreams: Set<string>;
  readonly faults = new Set<string>();
  /** Emitted message ids in emit order, with who emitted them (`life <n>` or `tab <n>`). */
  readonly emitted: { id: string; by: string }[] = [];
  /** Message ids in the order the server handler ran them. */
  readonly runs: string[] = [];
  readonly lives: Life[] = [];
  readonly violations: string[] = [];
  readonly log: string[] = [];
  readonly #random: () => number;
  #tabs = 0;
  /** The open long-lived tab. */
  #tab: { client: AssuredClient; by: string } | undefined;
  /** A page life closed while a tab was open: that tab may have adopted its messages. */
  #closedBesideTab = false;
  /** A long-lived tab was opened: it may adopt a closed life's messages (and hand them back). */
  #tabEver = false;
  /** Ids emitted again by another client than their first once a long-lived tab was opened. */
  readonly #emittedElsewhere = new Set<string>();

  constructor(config: Config) {
    this.config = config;
    this.storage = config.slowStorage ? slowStorage(memoryStorage()) : memoryStorage();
    this.appHandlers = new Set(config.handlers);
    this.appStreams = new Set(config.streams);
    const rng = new SeededRandom(config.seed);
    this.#random = () => rng.next();
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
    const { assured } = this.server;
    this.server.io.on("connection", (socket) => {
      // Also called for a connection that arrives while `stop()` runs: `subscribe` then throws
      // CLOSED synchronously (not as a rejection).
      Promise.resolve()
        .then(() => assured.subscribe(socket, INBOX))
        .catch(() => undefined);
    });
    this.server.assured.on("op", async (data, { id }) => {
      this.runs.push(id);
      if (this.config.slowServer) {
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      }
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
      held: new Set(),
      running: new Map(),
      errors: [],
      outcomes: [],
    };
    this.lives.push(life);
    client.onError((error) => {
      life.errors.push(error);
      const stream = (error.details as { stream?: string } | undefined)?.stream;
      if (error.code === "HANDLER_ERROR" && stream !== undefined) {
        life.held.add(stream);
      }
      if (!EXPECTED_CODES.has(error.code)) {
        this.violation(`life ${life.n}: unexpected ${error.code}: ${error.message}`);
      }
      if (error.code === "HANDLER_ERROR" && !error.message.includes("injected fault")) {
        this.violation(`life ${life.n}: ${error.message}`);
      }
      if (error.code === "NO_HANDLER") {
        const name = (error.details as { name?: Name }).name;
        if (name !== undefined && life.registered.has(name)) {
          this.violation(`life ${life.n}: NO_HANDLER for ${name} on ${stream} while registered`);
        }
      }
    });
    // A reconnect subscribes paused streams again (registered before the client's own listener).
    socket.on("connect", () => life.held.clear());
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
      if (life.held.has(meta.stream)) {
        this.violation(
          `${where}: delivered while paused by a handler error (no resume, no reconnect)`,
        );
      }
      const position = life.client.position(meta.stream)?.offset;
      if (position !== meta.offset - 1) {
        this.violation(`${where}: delivered at position ${position}, not ${meta.offset - 1}`);
      }
      if (this.faults.delete(meta.stream)) throw new Error(`injected fault at ${where}`);
      life.running.set(meta.stream, 1);
    };
    const done = (meta: Meta) => {
      const { stream, offset } = meta;
      life.handled.push({ stream, offset, name: meta.name, late: life.closing });
      life.running.set(stream, 0);
    };
    /** The stored position must not have moved past an event whose handler is still running. */
    const stored = async (meta: Meta) => {
      const text = await this.storage.get(`assured:pos:${meta.stream}`);
      const offset = text === null ? 0 : (JSON.parse(text) as { offset: number }).offset;
      const before = this.lives
        .slice(0, life.n)
        .some((l) => l.handled.some((h) => h.stream === meta.stream && h.offset === meta.offset));
      if (offset >= meta.offset && !before) {
        this.violation(
          `life ${life.n}: ${meta.stream}@${meta.offset} stored before its handler resolved`,
        );
      }
    };
    life.client.on(
      name,
      this.config.asyncHandlers
        ? async (data, meta) => {
            enter(data, meta);
            await new Promise((resolve) => setImmediate(resolve));
            await stored(meta);
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
        return this.#emit(this.life.client, `life ${this.life.n}`);
      case "reemit": {
        const again = this.emitted[step.pick % Math.max(1, this.emitted.length)];
        if (!again) return;
        const by = `life ${this.life.n}`;
        this.log.push(`(again ${again.id})`);
        // A tab may own the first one (adopted), or hand it back later: two sessions, no order.
        if (again.by !== by && this.#tabEver) this.#emittedElsewhere.add(again.id);
        return this.#emit(this.life.client, by, again.id);
      }
      case "tab": {
        const tab = await this.#openTab();
        await this.#emit(tab.client, tab.by);
        return tab.client.close();
      }
      case "tabOpen":
        this.#tabEver = true;
        this.#tab ??= await this.#openTab();
        return;
      case "tabEmit":
        if (this.#tab) await this.#emit(this.#tab.client, this.#tab.by);
        return;
      case "tabClose": {
        const tab = this.#tab;
        this.#tab = undefined;
        return tab?.client.close();
      }
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

  /** Emits a new message, or again one emitted before (`again`, its idempotency key). */
  async #emit(client: AssuredClient, by: string, again?: string): Promise<void> {
    const id = again ?? `m${this.emitted.length + 1}`;
    if (again === undefined) this.emitted.push({ id, by });
    let settled = false;
    client.emit("op", { id }, { id }).then(
      (value) => {
        settled = true;
        if ((value as { done?: string }).done !== id) {
          this.violation(`${id}: answered ${JSON.stringify(value)}`);
        }
      },
      (error: AssuredError) => {
        settled = true;
        if (error.code !== "CLOSED") this.violation(`${id}: emit rejected ${error.code}`);
      },
    );
    // The application goes on once the outbox has stored it.
    await eventually(() => settled || client.pending().some((m) => m.id === id), `${id} stored`);
  }

  /** Another client on the same storage (no handlers: its streams wait, nothing is consumed). */
  async #openTab(): Promise<{ client: AssuredClient; by: string }> {
    const client = createAssuredClient(testSocket(this.server.url), {
      storage: this.storage,
      ackTimeoutMs: 1000,
      retry: { initialMs: 10, maxMs: 100, factor: 2 },
      random: this.#random,
    });
    const by = `tab ${this.#tabs++}`;
    client.onError(() => undefined);
    await client.connect();
    return { client, by };
  }

  /** The ids emitted so far. */
  ids(): string[] {
    return this.emitted.map((e) => e.id);
  }

  #resumePaused(): void {
    const life = this.life;
    for (const stream of life.held) life.client.resume(stream);
    life.held.clear();
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
      if (!life.registered.has(next) || life.held.has(stream)) continue;
      return false;
    }
    return this.ids().every((id) => this.runs.includes(id));
  }

  async #closeLife(): Promise<void> {
    const life = this.life;
    life.closing = true;
    if (this.#tab) this.#closedBesideTab = true;
    await life.client.close();
  }

  /** Brings everything to rest: server up, every handler registered, paused streams resumed. */
  async settle(): Promise<void> {
    this.log.push("| settle:");
    await this.run({ t: "serverUp" });
    await this.run({ t: "tabClose" });
    for (const name of NAMES) await this.run({ t: "register", name });
    const life = this.life;
    const ids = this.ids();
    await eventually(() => {
      this.#resumePaused();
      return this.tracked().every(
        (s) => life.client.position(s)?.offset === this.head(s) && (life.running.get(s) ?? 0) === 0,
      );
    }, "every stream at its head");
    await eventually(() => ids.every((id) => this.runs.includes(id)), "every message run");
    await eventually(
      async () => (await Promise.all(ids.map((id) => life.client.result(id)))).every(Boolean),
      "every result stored",
    );
    for (const id of ids) {
      const result = await life.client.result(id);
      if (!result?.ok || (result.value as { done?: string }).done !== id) {
        this.violation(`${id}: result in the last page life is ${JSON.stringify(result)}`);
      }
    }
  }

  /** Closes the last client and the server. */
  async dispose(): Promise<void> {
    await this.#tab?.client.close();
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
      // next life starts right after the last offset handled, or repeats that one if its
      // handler was still running when the page closed (its position saved too late).
      let last = 0;
      let lastLate = false;
      this.lives.forEach((life, n) => {
        const handled = life.handled.filter((h) => h.stream === stream);
        handled.forEach(({ offset, late }, i) => {
          const ok = offset === last + 1 || (i === 0 && offset === last && lastLate);
          if (!ok) {
            const list = handled.map((h) => h.offset).join(",");
            out.push(`${stream}: life ${n} handled ${offset} after ${last} (${list})`);
          }
          if (offset >= last) lastLate = late;
          last = Math.max(last, offset);
        });
      });
      if (last !== head) out.push(`${stream}: handled up to ${last}, head ${head}`);
    }
    const ids = this.ids();
    for (const id of ids) {
      const count = this.runs.filter((r) => r === id).length;
      if (count !== 1) out.push(`${id}: ran ${count} times`);
    }
    for (const id of this.runs) if (!ids.includes(id)) out.push(`${id}: ran, never emitted`);
    // In send order (G10): each client's messages; and the page lives' together, as the next
    // life adopts a closed one's unanswered messages ahead of its own (unless a tab took them).
    // Not a message emitted again from another session while a tab may have owned it: each
    // session keeps its own order, there is none between sessions.
    const groups = new Map<string, string[]>();
    for (const { id, by } of this.emitted) {
      if (this.#emittedElsewhere.has(id)) continue;
      const group = by.startsWith("life") && !this.#closedBesideTab ? "page lives" : by;
      groups.set(group, [...(groups.get(group) ?? []), id]);
    }
    for (const [group, emitted] of groups) {
      const order = this.runs.filter((id) => emitted.includes(id));
      if (order.join() !== emitted.join()) {
        out.push(`${group}: messages ran as ${order.join()}, emitted ${emitted.join()}`);
      }
    }
    return out;
  }

  /** Error codes reported besides NO_HANDLER and HANDLER_ERROR. */
  errorCodes(): string[] {
    return this.lives
      .flatMap((l) => l.errors.map((e) => e.code))
      .filter((c) => c !== "NO_HANDLER" && c !== "HANDLER_ERROR");
  }

  /** Counts of what a run exercised (summed over runs and printed). */
  stats(): Record<string, number> {
    const errors = this.lives.flatMap((l) => l.errors.map((e) => e.code));
    let repeats = 0;
    for (const stream of STREAMS) {
      let last = 0;
      for (const life of this.lives) {
        const offsets = life.handled.filter((h) => h.stream === stream).map((h) => h.offset);
        if (offsets[0] !== undefined && offsets[0] <= last) repeats++;
        last = Math.max(last, ...offsets);
      }
    }
    return {
      runs: 1,
      steps: this.log.length,
      lives: this.lives.length,
      events: STREAMS.reduce((n, s) => n + this.head(s), 0),
      handled: this.lives.reduce((n, l) => n + l.handled.length, 0),
      [this.config.asyncHandlers ? "repeatsAsync" : "repeatsSync"]: repeats,
      messages: this.emitted.length,
      tabs: this.#tabs,
      outages: this.log.filter((l) => l.includes("serverDown")).length,
      NO_HANDLER: errors.filter((c) => c === "NO_HANDLER").length,
      HANDLER_ERROR: errors.filter((c) => c === "HANDLER_ERROR").length,
      otherErrors: errors.filter((c) => c !== "NO_HANDLER" && c !== "HANDLER_ERROR").length,
    };
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
      `heads ${heads}; emitted ${this.emitted.map((e) => `${e.id} (${e.by})`).join(", ")}; runs ${this.runs.join(",")}`,
      ...lives,
    ].join("\n");
  }
}
