import { MemoryDedupStore, MemoryEventStore } from "@assured/core";
import type { AssuredServer } from "@assured/server";
import { chromiumArgs, chromiumPath, freePort } from "@assured/test-services";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import type { Server } from "socket.io";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildBrowserClient } from "../src/browser-bundle.js";
import { type RunningSocketServer, startSocketServer } from "../src/socket-server.js";
import { type StaticSite, serveStatic } from "../src/static-site.js";
import { TABS_PAGE, type TabsApi } from "../src/tabs-page.js";

const INBOX = "inbox:ada";
let browser: Browser | undefined;
let site: StaticSite | undefined;
const servers: RunningSocketServer[] = [];
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  const [bundle, launched] = await Promise.all([
    buildBrowserClient(),
    chromium.launch({ executablePath: chromiumPath, args: chromiumArgs }),
  ]);
  browser = launched;
  site = await serveStatic({
    "/": ["text/html", TABS_PAGE],
    "/assured-client.js": ["text/javascript", bundle],
  });
}, 60_000);

afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  for (const context of contexts.splice(0)) await context.close();
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

/** Runs `read(window.tabs)` in the page. */
function state<T>(page: Page, read: (api: TabsApi) => T | Promise<T>): Promise<T> {
  return page.evaluate((source) => {
    const api = (globalThis as unknown as { tabs: TabsApi }).tabs;
    return new Function("api", `return (${source})(api)`)(api) as T;
  }, read.toString());
}

/** Waits until the page's stored position of `stream` is at `offset`. */
async function storedOffset(page: Page, stream: string, offset: number, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stored = await page.evaluate(async (name) => {
      const api = (globalThis as unknown as { tabs: TabsApi }).tabs;
      const key = (await api.keys()).find((k) => k.endsWith(`pos:${name}`));
      return key === undefined ? null : await api.stored(key);
    }, stream);
    if (stored !== null && (JSON.parse(stored) as { offset: number }).offset === offset) return;
    if (Date.now() > deadline) throw new Error(`stored position of ${stream}: ${stored}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until `check(window.tabs)` is true in the page. */
async function until(page: Page, check: (api: TabsApi) => boolean, timeoutMs = 15_000) {
  await page.waitForFunction(
    (source) => {
      const api = (globalThis as unknown as { tabs?: TabsApi }).tabs;
      return api?.ready === true && new Function("api", `return (${source})(api)`)(api) === true;
    },
    check.toString(),
    { timeout: timeoutMs, polling: 20 },
  );
}

/** A fresh browser context: its tabs share localStorage and IndexedDB, like one user's browser. */
async function newContext(): Promise<BrowserContext> {
  const context = await browser!.newContext();
  contexts.push(context);
  return context;
}

async function openTab(context: BrowserContext, server: string, storage: string): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error("page error:", error));
  const query = new URLSearchParams({ server, storage });
  await page.goto(`${site!.url}/?${query}`);
  await until(page, (api) => api.ready);
  return page;
}

/** Sends `count` notes with ids `<tab>-1…` from a tab. */
async function sendNotes(page: Page, tab: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${tab}-${i + 1}`);
  await page.evaluate((list) => {
    const api = (globalThis as unknown as { tabs: TabsApi }).tabs;
    for (const [i, id] of list.entries()) api.emit({ n: i + 1 }, id);
  }, ids);
  return ids;
}

interface Handled {
  id: string;
  principal: string;
}

/** A server on `port` that handles notes (recording each run) and subscribes sockets to the inbox. */
async function startServer(port: number, handled: Handled[], store = new MemoryEventStore()) {
  const server = await startSocketServer({
    port,
    store,
    dedupStore: new MemoryDedupStore(),
    beforeListen: (assured: AssuredServer, io: Server) => {
      assured.on("note", (data: { n: number }, { id, principal }) => {
        handled.push({ id, principal });
        return { n: data.n, id };
      });
      io.on("connection", (socket) => {
        assured.subscribe(socket, INBOX).catch(() => undefined);
      });
    },
  });
  servers.push(server);
  return server;
}

for (const storage of ["local", "idb"] as const) {
  describe(`tabs of one app in Chromium, storage ${storage === "idb" ? "IndexedDB" : "localStorage"}`, () => {
    it("two open tabs send while the server is down: after it starts every message runs once and each tab gets its own answers; nothing is orphaned", {
      timeout: 60_000,
    }, async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const context = await newContext();
      const [a, b] = [await openTab(context, url, storage), await openTab(context, url, storage)];
      const sentA = await sendNotes(a, "a", 3);
      const sentB = await sendNotes(b, "b", 3);
      await until(a, (api) => api.pending().length === 3);
      await until(b, (api) => api.pending().length === 3);

      const handled: Handled[] = [];
      await startServer(port, handled);
      await until(a, (api) => api.replies.length === 3);
      await until(b, (api) => api.replies.length === 3);
      expect(handled.map((h) => h.id).sort()).toEqual([...sentA, ...sentB].sort());
      expect(await state(a, (api) => api.replies.map((r) => r.id))).toEqual(sentA);
      expect(await state(b, (api) => api.replies.map((r) => r.id))).toEqual(sentB);
      // Any tab can ask for the result of a message another tab sent.
      expect(await state(a, (api) => api.result("b-2"))).toEqual({
        ok: true,
        value: { n: 2, id: "b-2" },
      });
      const keys = await state(a, (api) => api.keys());
      expect(keys.filter((k) => k.includes("msg:"))).toEqual([]);
      expect(await state(a, (api) => api.errors)).toEqual([]);
      expect(await state(b, (api) => api.errors)).toEqual([]);
    });

    it("two tabs send while the server is down and both close; one reopened tab sends every message once and can read every result", {
      timeout: 60_000,
    }, async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const context = await newContext();
      const [a, b] = [await openTab(context, url, storage), await openTab(context, url, storage)];
      const sent = [...(await sendNotes(a, "a", 3)), ...(await sendNotes(b, "b", 3))];
      await until(a, (api) => api.pending().length === 3);
      await until(b, (api) => api.pending().length === 3);
      await a.close();
      await b.close();

      const reopened = await openTab(context, url, storage);
      await until(reopened, (api) => api.pending().length === 6);
      const handled: Handled[] = [];
      await startServer(port, handled);
      await until(reopened, (api) => api.results.length === 6);
      expect(handled.map((h) => h.id).sort()).toEqual([...sent].sort());
      expect(new Set(handled.map((h) => h.principal)).size).toBe(1);
      const results = await reopened.evaluate((ids) => {
        const api = (globalThis as unknown as { tabs: TabsApi }).tabs;
        return Promise.all(ids.map((id) => api.result(id)));
      }, sent);
      expect(results.map((r) => r?.ok)).toEqual(sent.map(() => true));
      const keys = await state(reopened, (api) => api.keys());
      expect(keys.filter((k) => k.includes("msg:"))).toEqual([]);
      expect(keys.filter((k) => k.includes("session:"))).toHaveLength(1);
      expect(await state(reopened, (api) => api.pending())).toEqual([]);
    });

    it("a stream the server subscribed resumes after the page was closed: every event once, in order, recovered", {
      timeout: 60_000,
    }, async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const store = new MemoryEventStore();
      const server = await startServer(port, [], store);
      const context = await newContext();
      const first = await openTab(context, url, storage);
      await until(first, (api) => api.outcomes.length === 1);
      for (let n = 1; n <= 3; n++) await server.assured.publish(INBOX, "mail", { n });
      await until(first, (api) => api.mail.length === 3);
      // G3 is once per saved position: close the page once offset 3 is stored (closing it
      // before would be a crash between handler and save, which may redeliver).
      await storedOffset(first, INBOX, 3);
      await first.close();
      for (let n = 4; n <= 6; n++) await server.assured.publish(INBOX, "mail", { n });

      const second = await openTab(context, url, storage);
      await until(second, (api) => api.mail.length === 3);
      await server.assured.publish(INBOX, "mail", { n: 7 });
      await until(second, (api) => api.mail.length === 4);
      expect(await state(second, (api) => api.mail.map((m) => m.offset))).toEqual([4, 5, 6, 7]);
      expect(await state(second, (api) => api.outcomes)).toEqual([
        { stream: INBOX, recovered: true, offset: 3 },
      ]);
    });
  });
}
