import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import { type TabFigures, TabProgress } from "./browser-tab-progress.js";
import {
  TAB_ACK,
  TAB_API,
  TAB_CONFIGURE,
  TAB_SEND,
  type TabLine,
  type TabMessage,
  type TabStart,
  type TabSync,
} from "./browser-tab-protocol.js";
import type { ChaosLogLine } from "./chaos-log.js";
import type { ClientStatus } from "./client-worker-protocol.js";

/** Options of `BrowserTab.open`. */
export interface BrowserTabOptions {
  /** The client's name in every page life (`t0`…). */
  name: string;
  /** The site serving the tab's page (`/`) and script. */
  siteUrl: string;
  /** Where the client's socket connects. */
  url: string;
  streams: string[];
  startedAt: number;
  messagesPerSecond: number;
  maxMessages: number;
  seed: number;
  /** Receives every line of the tab, in the tab's order (and a `reload` line per new page life). */
  log: (line: ChaosLogLine) => void;
  /** Longest wait for a page life to be connected and subscribed (default 30,000 ms). */
  readyTimeoutMs?: number;
}

/** Longest wait for the page to close its client when the tab stops. */
const CLOSE_TIMEOUT_MS = 10_000;
/** How often the page is told which batches of lines arrived (so it can forget them). */
const ACK_INTERVAL_MS = 500;

/**
 * One chaos client in Chromium: a page (`browser-tab-page.ts`) in its own browser context — its
 * own localStorage, so the tab is one logical client — running a real `@assured/client` through
 * the fault proxy. The Node side keeps the tab's progress from its lines (`status`), gives each
 * page life its config (the next message counter, the messages still unsettled), logs a
 * `reload` line when a new page life starts, and reloads the page or takes its context offline
 * for the fault schedule (one such fault at a time per tab).
 */
export class BrowserTab {
  readonly name: string;
  readonly #options: BrowserTabOptions;
  readonly #context: BrowserContext;
  readonly #page: Page;
  readonly #progress: TabProgress;
  /** Between a page life's `sync` and `start`: the batches taken are sent again. */
  #syncing = false;
  #faults: Promise<void> = Promise.resolve();
  #closed = false;
  #cdp: CDPSession | undefined;
  /** The page life's execution context (where answers and acks go). */
  #contextId: number | undefined;
  /** The last batch taken; batches that came before their turn; the last batch acknowledged. */
  #received = 0;
  readonly #early = new Map<number, TabLine[]>();
  #acked = 0;
  readonly #ackTimer: ReturnType<typeof setInterval>;

  private constructor(options: BrowserTabOptions, context: BrowserContext, page: Page) {
    this.name = options.name;
    this.#options = options;
    this.#context = context;
    this.#page = page;
    this.#progress = new TabProgress(options.name, options.streams);
    this.#ackTimer = setInterval(() => this.#ack(), ACK_INTERVAL_MS);
  }

  /** Opens the tab in a new context of `browser` and waits until it is connected and subscribed. */
  static async open(browser: Browser, options: BrowserTabOptions): Promise<BrowserTab> {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const tab = new BrowserTab(options, context, page);
      const cdp = await context.newCDPSession(page);
      tab.#cdp = cdp;
      cdp.on("Runtime.bindingCalled", (event) => {
        if (event.name === TAB_SEND) tab.#message(event.payload, event.executionContextId);
      });
      // Without an execution context: in every page life, across reloads (needs the domain on).
      await cdp.send("Runtime.enable");
      await cdp.send("Runtime.addBinding", { name: TAB_SEND });
      page.on("pageerror", (error) => tab.#pageError(error));
      await page.goto(`${options.siteUrl}/`);
      await tab.#ready();
      return tab;
    } catch (error) {
      await context.close().catch(() => undefined);
      throw error;
    }
  }

  /** What the tab's reloads did, for the run's report. */
  get figures(): TabFigures {
    return { ...this.#progress.figures };
  }

  /** Reloads the page (after any fault of this tab in progress) and waits for the new page life. */
  reload(): Promise<void> {
    return this.#serial(async () => {
      await this.#page.reload();
      this.#progress.figures.reloads++;
      await this.#ready();
    });
  }

  /** Takes the tab's context offline for `ms`, then back online (after any fault in progress). */
  offline(ms: number): Promise<void> {
    return this.#serial(async () => {
      await this.#context.setOffline(true);
      try {
        await new Promise((resolve) => setTimeout(resolve, ms));
      } finally {
        await this.#context.setOffline(false);
      }
    });
  }

  /** The tab's progress as its lines tell it (the shape of a worker client's). */
  status(): ClientStatus {
    return this.#progress.status();
  }

  /** Closes the page's client (pending `emit`s reject with `CLOSED`, logged) and the context. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ackTimer);
    await this.#faults.catch(() => undefined);
    await Promise.race([
      this.#page.evaluate(async (api) => {
        await (globalThis as unknown as Record<string, { close(): Promise<void> }>)[api]?.close();
        // One more task: the rejected emits' lines are flushed in microtasks of this one.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }, TAB_API),
      new Promise((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS)),
    ]).catch(() => undefined);
    await this.#context.close().catch(() => undefined);
  }

  #serial(fault: () => Promise<void>): Promise<void> {
    const run = this.#faults.catch(() => undefined).then(fault);
    this.#faults = run;
    return run;
  }

  async #ready(): Promise<void> {
    await this.#page.waitForFunction(
      (api) => (globalThis as unknown as Record<string, { ready?: boolean }>)[api]?.ready === true,
      TAB_API,
      { timeout: this.#options.readyTimeoutMs ?? 30_000, polling: 50 },
    );
  }

  #message(payload: string, contextId: number): void {
    const message = JSON.parse(payload) as TabMessage;
    if ("seq" in message) {
      this.#batch(message.seq, message.lines);
      return;
    }
    this.#contextId = contextId;
    this.#syncing = message.hello === "sync";
    const answer = message.hello === "sync" ? this.#sync() : this.#start();
    this.#call(`${TAB_CONFIGURE}(${JSON.stringify(answer)})`);
  }

  /** Calls a function of the current page life; a life already gone (reloaded) is skipped. */
  #call(expression: string): void {
    const contextId = this.#contextId;
    if (this.#cdp === undefined || contextId === undefined) return;
    this.#cdp
      .send("Runtime.evaluate", { expression: `globalThis.${expression}`, contextId })
      .catch(() => undefined);
  }

  #ack(): void {
    if (this.#received === this.#acked) return;
    this.#acked = this.#received;
    this.#call(`${TAB_ACK}(${this.#received})`);
  }

  /** Takes batch `seq` in its turn: once, in number order (a batch sent again is skipped). */
  #batch(seq: number, lines: TabLine[]): void {
    if (seq <= this.#received) return;
    this.#early.set(seq, lines);
    for (;;) {
      const next = this.#early.get(this.#received + 1);
      if (next === undefined) return;
      this.#early.delete(this.#received + 1);
      this.#received++;
      if (this.#syncing) this.#progress.figures.resentBatches++;
      this.#receive(next);
    }
  }

  #sync(): TabSync {
    const o = this.#options;
    return {
      name: this.name,
      url: o.url,
      streams: o.streams,
      startedAt: o.startedAt,
      messagesPerSecond: o.messagesPerSecond,
      maxMessages: o.maxMessages,
      seed: o.seed,
      received: this.#received,
    };
  }

  #start(): TabStart {
    const start = this.#progress.nextLife();
    if (start.life > 0) {
      // The page sent what was missing of the earlier life before it asked: all of it is in.
      this.#options.log({ kind: "reload", t: this.#now(), client: this.name });
    }
    return start;
  }

  #receive(lines: TabLine[]): void {
    for (const line of lines) {
      const out = this.#progress.take(line);
      if (out) this.#options.log(out);
    }
  }

  #pageError(error: Error): void {
    this.#progress.pageError();
    this.#options.log({
      kind: "error",
      t: this.#now(),
      client: this.name,
      code: "PAGE_ERROR",
      message: String(error.stack ?? error),
    });
  }

  #now(): number {
    return Date.now() - this.#options.startedAt;
  }
}
