import { chromiumArgs, chromiumPath } from "@assured/test-services";
import { type Browser, chromium } from "playwright-core";
import { type StaticSite, serveStatic } from "../static-site.js";
import { BrowserTab } from "./browser-tab.js";
import { buildTabPage, TAB_HTML } from "./browser-tab-bundle.js";
import type { ChaosLogLine } from "./chaos-log.js";
import type { ClientStatus } from "./client-worker-protocol.js";

/** Options of `BrowserTabs.start`. */
export interface BrowserTabsOptions {
  /** Tabs, named `t0`, `t1`… (each its own browser context: one logical client each). */
  tabs: number;
  /** Where every tab's client connects (the fault proxy). */
  url: string;
  streams: string[];
  startedAt: number;
  messagesPerSecond: number;
  maxMessages: number;
  seed: number;
  /** Receives every tab's lines (each tab's in its own order). */
  log: (line: ChaosLogLine) => void;
}

/**
 * The chaos run's browser clients: one headless Chromium (the system's, never downloaded) with
 * `tabs` pages of `browser-tab-page.ts`, each in its own context (its own localStorage), served
 * from a local site. `start` resolves once every tab is connected and subscribed.
 *
 * @example
 * const tabs = await BrowserTabs.start({ tabs: 2, url: proxy.url, …, log });
 * await tabs.reload(0); // t0 reloads and resumes from its stored positions and outbox
 * await tabs.offline(1, 2_000);
 * await tabs.stop();
 */
export class BrowserTabs {
  readonly #browser: Browser;
  readonly #site: StaticSite;
  readonly #tabs: BrowserTab[];

  private constructor(browser: Browser, site: StaticSite, tabs: BrowserTab[]) {
    this.#browser = browser;
    this.#site = site;
    this.#tabs = tabs;
  }

  /** Builds the page, launches Chromium and opens every tab; cleans up if one fails. */
  static async start(options: BrowserTabsOptions): Promise<BrowserTabs> {
    const [script, browser] = await Promise.all([
      buildTabPage(),
      chromium.launch({ executablePath: chromiumPath, args: chromiumArgs }),
    ]);
    const site = await serveStatic({
      "/": ["text/html", TAB_HTML],
      "/chaos-tab.js": ["text/javascript", script],
    });
    try {
      const tabs = await Promise.all(
        Array.from({ length: options.tabs }, (_, i) =>
          BrowserTab.open(browser, { ...options, name: `t${i}`, siteUrl: site.url }),
        ),
      );
      return new BrowserTabs(browser, site, tabs);
    } catch (error) {
      await browser.close().catch(() => undefined);
      await site.close();
      throw error;
    }
  }

  /** How many tabs run. */
  get count(): number {
    return this.#tabs.length;
  }

  /** The tabs' client names, `t0`, `t1`… */
  get names(): string[] {
    return this.#tabs.map((t) => t.name);
  }

  /** Page reloads done, over all tabs. */
  get reloads(): number {
    return this.#tabs.reduce((sum, t) => sum + t.figures.reloads, 0);
  }

  /** One line for the run's report: per tab, its reloads and what they did. */
  summary(): string {
    const each = this.#tabs.map((t) => {
      const f = t.figures;
      return `${t.name} reloads=${f.reloads} replayed=${f.replayed} settled-after-reload=${f.settledAfterReload} resent-batches=${f.resentBatches}`;
    });
    return `tabs: ${each.join("; ")}`;
  }

  /** Reloads tab `index` and waits until its new page life is connected and subscribed. */
  reload(index: number): Promise<void> {
    return this.#tab(index).reload();
  }

  /** Takes tab `index`'s context offline for `ms`, then back online. */
  offline(index: number, ms: number): Promise<void> {
    return this.#tab(index).offline(ms);
  }

  /** Every tab's progress, from its lines. */
  status(): ClientStatus[] {
    return this.#tabs.map((t) => t.status());
  }

  /** Closes every tab's client (logging what settles), then Chromium and the site. */
  async stop(): Promise<void> {
    await Promise.all(this.#tabs.map((t) => t.close()));
    await this.#browser.close().catch(() => undefined);
    await this.#site.close();
  }

  #tab(index: number): BrowserTab {
    const tab = this.#tabs[index];
    if (!tab) throw new RangeError(`no browser tab ${index} (${this.#tabs.length} run)`);
    return tab;
  }
}
