import { MemoryDedupStore, MemoryEventStore } from "@assured/core";
import type { AssuredServer } from "@assured/server";
import { chromiumArgs, chromiumPath, freePort } from "@assured/test-services";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBrowserClient } from "../src/browser-bundle.js";
import { BROWSER_PAGE, type PageApi } from "../src/browser-page.js";
import { type RunningSocketServer, startSocketServer } from "../src/socket-server.js";
import { type StaticSite, serveStatic } from "../src/static-site.js";

let browser: Browser | undefined;
let site: StaticSite | undefined;
const servers: RunningSocketServer[] = [];

beforeAll(async () => {
  const [bundle, launched] = await Promise.all([
    buildBrowserClient(),
    chromium.launch({ executablePath: chromiumPath, args: chromiumArgs }),
  ]);
  browser = launched;
  site = await serveStatic({
    "/": ["text/html", BROWSER_PAGE],
    "/assured-client.js": ["text/javascript", bundle],
  });
}, 60_000);

afterAll(async () => {
  for (const server of servers) await server.close();
  await browser?.close();
  await site?.close();
});

/** Reads `window.e2e` in the page. */
function state<T>(page: Page, read: (api: PageApi) => T): Promise<T> {
  return page.evaluate((source) => {
    const api = (globalThis as unknown as { e2e: PageApi }).e2e;
    return new Function("api", `return (${source})(api)`)(api) as T;
  }, read.toString());
}

/** Waits until `check(window.e2e)` is true in the page. */
async function until(page: Page, check: (api: PageApi) => boolean, timeoutMs = 10_000) {
  await page.waitForFunction(
    (source) => {
      const api = (globalThis as unknown as { e2e?: PageApi }).e2e;
      return api?.ready === true && new Function("api", `return (${source})(api)`)(api) === true;
    },
    check.toString(),
    { timeout: timeoutMs, polling: 20 },
  );
}

describe("in headless Chromium with localStorage", () => {
  it("G8/G9/G5: messages sent while the server is down survive a reload and are handled once; the stream position survives too", {
    timeout: 60_000,
  }, async () => {
    const store = new MemoryEventStore();
    const dedupStore = new MemoryDedupStore();
    const handled: unknown[] = [];
    const register = (assured: AssuredServer) => {
      assured.on("note", (data: { n: number }, { principal }) => {
        handled.push({ ...data, principal });
        return { n: data.n, handled: true };
      });
    };
    const port = await freePort();
    const first = await startSocketServer({ port, store, dedupStore, beforeListen: register });
    servers.push(first);
    for (let n = 1; n <= 5; n++) await first.assured.publish("news", "e", { n });

    const page = await browser!.newPage();
    page.on("pageerror", (error) => console.error("page error:", error));
    await page.goto(`${site!.url}/?server=${encodeURIComponent(first.url)}`);
    await until(page, (api) => api.delivered.length === 5);
    expect(await state(page, (api) => api.delivered.map((d) => d.offset))).toEqual([1, 2, 3, 4, 5]);

    // The server goes away; the page sends three messages into its outbox.
    await first.close();
    await until(page, (api) => !api.connected());
    await page.evaluate(() => {
      const api = (globalThis as unknown as { e2e: PageApi }).e2e;
      for (let n = 1; n <= 3; n++) api.emit({ n });
    });
    await until(page, (api) => api.pending().length === 3);

    // Reload while the server is still down: the outbox and the position come back.
    await page.reload();
    await until(page, (api) => api.ready);
    expect(await state(page, (api) => api.pending().map((m) => [m.seq, m.name]))).toEqual([
      [1, "note"],
      [2, "note"],
      [3, "note"],
    ]);
    expect(await state(page, (api) => api.position()?.offset)).toBe(5);
    expect(await state(page, (api) => api.connected())).toBe(false);

    // The server comes back on the same port, after publishing while the page was away.
    const second = await startSocketServer({
      port,
      store,
      dedupStore,
      beforeListen: async (assured) => {
        register(assured);
        for (let n = 6; n <= 8; n++) await assured.publish("news", "e", { n });
      },
    });
    servers.push(second);
    await until(page, (api) => api.results.length === 3 && api.delivered.length === 3);

    const clientId = (handled[0] as { principal: string }).principal;
    expect(handled).toEqual([1, 2, 3].map((n) => ({ n, principal: clientId })));
    expect(await state(page, (api) => api.results.map((r) => [r.ok, r.value]))).toEqual(
      [1, 2, 3].map((n) => [true, { n, handled: true }]),
    );
    expect(await state(page, (api) => api.pending())).toEqual([]);
    // Events published before the reload are not redelivered; those published while away are.
    expect(await state(page, (api) => api.delivered.map((d) => d.offset))).toEqual([6, 7, 8]);
    expect(await state(page, (api) => api.outcomes.every((o) => o.recovered))).toBe(true);

    // One more reload with the server up: nothing is sent or delivered twice.
    await page.reload();
    await until(page, (api) => api.outcomes.length > 0 && api.connected());
    expect(await state(page, (api) => api.outcomes[0])).toMatchObject({
      recovered: true,
      position: { offset: 8 },
    });
    await second.assured.publish("news", "e", { n: 9 });
    await until(page, (api) => api.delivered.length === 1);
    expect(await state(page, (api) => api.delivered)).toEqual([{ offset: 9, data: { n: 9 } }]);
    expect(await state(page, (api) => api.results.length)).toBe(0);
    expect(handled).toHaveLength(3);
    expect(await state(page, (api) => api.errors)).toEqual([]);
    await page.close();
  });

  it("G8/G9: a page opened while the server has never listened keeps its messages across a reload and they are handled once when it starts", {
    timeout: 30_000,
  }, async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const page = await browser!.newPage();
    page.on("pageerror", (error) => console.error("page error:", error));
    await page.goto(`${site!.url}/?server=${encodeURIComponent(url)}`);
    await until(page, (api) => api.ready);
    await page.evaluate(() => {
      const api = (globalThis as unknown as { e2e: PageApi }).e2e;
      api.emit({ n: 1 });
      api.emit({ n: 2 });
    });
    await until(page, (api) => api.pending().length === 2);
    await page.reload();
    await until(page, (api) => api.pending().length === 2);
    await page.evaluate(() => (globalThis as unknown as { e2e: PageApi }).e2e.emit({ n: 3 }));
    await until(page, (api) => api.pending().length === 3);

    const handled: number[] = [];
    const server = await startSocketServer({
      port,
      beforeListen: (assured) => {
        assured.on("note", ({ n }: { n: number }) => {
          handled.push(n);
          return n * 100;
        });
      },
    });
    servers.push(server);
    // Messages of the earlier page life settle through onResult; the one of this life also
    // resolves its emit() promise.
    await until(page, (api) => api.results.length === 3 && api.replies.length === 1);
    expect(handled).toEqual([1, 2, 3]);
    expect(await state(page, (api) => api.results.map((r) => r.value))).toEqual([100, 200, 300]);
    expect(await state(page, (api) => api.replies)).toEqual([300]);
    expect(await state(page, (api) => api.pending())).toEqual([]);
    await page.close();
  });
});
