import { chromiumArgs, chromiumPath } from "@assured/test-services";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBrowserClient } from "../src/browser-bundle.js";
import { type StaticSite, serveStatic } from "../src/static-site.js";
import { STORAGE_PAGE, type StoragePageApi, sandboxedStorageFrame } from "../src/storage-page.js";

let browser: Browser | undefined;
let site: StaticSite | undefined;
let bundle = "";

beforeAll(async () => {
  const [built, launched] = await Promise.all([
    buildBrowserClient(),
    chromium.launch({ executablePath: chromiumPath, args: chromiumArgs }),
  ]);
  bundle = built;
  browser = launched;
  site = await serveStatic({
    "/storage": ["text/html", STORAGE_PAGE],
    "/assured-client.js": ["text/javascript", bundle],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

/**
 * A fresh browser context: its own (in-memory) IndexedDB and localStorage, shared by the pages
 * opened in it, as the tabs of one origin share them.
 */
async function withContext(run: (context: BrowserContext) => Promise<void>): Promise<void> {
  const context = await browser!.newContext();
  try {
    await run(context);
  } finally {
    await context.close();
  }
}

/** Opens the storage page in `context` and waits until it exposes `window.assuredStorage`. */
async function openPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error("page error:", error));
  await page.goto(`${site!.url}/storage`);
  await waitReady(page);
  return page;
}

async function waitReady(page: Page): Promise<void> {
  await page.waitForFunction(
    () =>
      (globalThis as unknown as { assuredStorage?: StoragePageApi }).assuredStorage?.ready === true,
    undefined,
    { timeout: 10_000, polling: 20 },
  );
}

/**
 * Runs `run(window.assuredStorage, arg)` in the page. `run` is sent as source, so it may use
 * only its parameters and the page's globals.
 */
function inPage<A, R>(
  page: Page,
  run: (api: StoragePageApi, arg: A) => Promise<R> | R,
  arg: A,
): Promise<R> {
  return page.evaluate(
    ([source, value]) => {
      const api = (globalThis as unknown as { assuredStorage: StoragePageApi }).assuredStorage;
      return new Function("api", "arg", `return (${source})(api, arg)`)(api, value) as R;
    },
    [run.toString(), arg] as const,
  );
}

describe("indexedDbStorage in headless Chromium", () => {
  it("set, get, remove and batch round-trip in the default database assured/kv", async () => {
    await withContext(async (context) => {
      const page = await openPage(context);
      const result = await inPage(
        page,
        async (api) => {
          const storage = api.indexedDbStorage();
          const seen: unknown[] = [];
          seen.push(await storage.get("missing"));
          await storage.set("k", "v1");
          seen.push(await storage.get("k"));
          await storage.set("k", "v2");
          seen.push(await storage.get("k"));
          await storage.remove("k");
          await storage.remove("never-set");
          seen.push(await storage.get("k"));
          await storage.set("gone", "x");
          await storage.batch!([
            { key: "a", value: "1" },
            { key: "gone", value: null },
            { key: "b", value: "ü€😀" },
            { key: "a", value: "2" },
          ]);
          await storage.batch!([]);
          seen.push(await storage.get("a"), await storage.get("b"), await storage.get("gone"));
          const raw = await api.raw.snapshot("assured", "kv", ["a", "b", "gone"]);
          return { seen, raw, databases: await api.raw.databases() };
        },
        null,
      );
      expect(result.seen).toEqual([null, "v1", "v2", null, "2", "ü€😀", null]);
      expect(result.raw).toEqual(["2", "ü€😀", null]);
      expect(result.databases).toContain("assured");
    });
  });

  it("values survive a page reload (default and custom database names)", async () => {
    await withContext(async (context) => {
      const page = await openPage(context);
      await inPage(
        page,
        async (api) => {
          await api.indexedDbStorage().set("outbox", '{"seq":3}');
          await api.indexedDbStorage({ dbName: "app", storeName: "state" }).batch!([
            { key: "pos:news", value: '{"offset":5}' },
            { key: "pos:chat", value: '{"offset":9}' },
          ]);
        },
        null,
      );
      await page.reload();
      await waitReady(page);
      const after = await inPage(
        page,
        async (api) => {
          const app = api.indexedDbStorage({ dbName: "app", storeName: "state" });
          return [
            await api.indexedDbStorage().get("outbox"),
            await app.get("pos:news"),
            await app.get("pos:chat"),
            await app.get("outbox"), // another database: not shared
          ];
        },
        null,
      );
      expect(after).toEqual(['{"seq":3}', '{"offset":5}', '{"offset":9}', null]);
    });
  });

  it("a batch that fails mid-way (a real QuotaExceededError) keeps none of its writes", {
    timeout: 30_000,
  }, async () => {
    await withContext(async (context) => {
      const page = await openPage(context);
      // Chromium's per-origin quota is a share of the disk; DevTools lowers it to 1 MB so that
      // a 3 MB value really exceeds it. The transaction then aborts at commit. (Set before the
      // origin first uses IndexedDB: set afterwards, it did not take effect in Chromium 156.)
      const cdp = await context.newCDPSession(page);
      await cdp.send("Storage.overrideQuotaForOrigin", { origin: site!.url, quotaSize: 1_000_000 });
      await inPage(page, (api) => api.indexedDbStorage().set("keep", "old"), null);
      const failed = await inPage(
        page,
        async (api) => {
          const storage = api.indexedDbStorage();
          const settled = await api.settle(
            storage.batch!([
              { key: "a", value: "small, fits alone" },
              { key: "keep", value: null },
              { key: "big", value: "x".repeat(3_000_000) },
              { key: "b", value: "after the big one" },
            ]),
          );
          const after = [
            await storage.get("a"),
            await storage.get("keep"),
            await storage.get("big"),
            await storage.get("b"),
          ];
          // The storage still works for writes that fit.
          await storage.set("small", "ok");
          return { settled, after, small: await storage.get("small") };
        },
        null,
      );
      expect(failed.settled).toMatchObject({
        ok: false,
        code: "STORE_UNAVAILABLE",
        causeName: "QuotaExceededError",
      });
      expect(failed.settled.ok || failed.settled.message).toContain("quota");
      expect(failed.after).toEqual([null, "old", null, null]);
      expect(failed.small).toBe("ok");

      // Control: with the quota back to normal the same batch commits, all of it.
      await cdp.send("Storage.overrideQuotaForOrigin", { origin: site!.url });
      const committed = await inPage(
        page,
        async (api) => {
          const storage = api.indexedDbStorage();
          await storage.batch!([
            { key: "a", value: "small, fits alone" },
            { key: "keep", value: null },
            { key: "big", value: "x".repeat(3_000_000) },
            { key: "b", value: "after the big one" },
          ]);
          return [
            await storage.get("a"),
            await storage.get("keep"),
            (await storage.get("big"))?.length,
            await storage.get("b"),
          ];
        },
        null,
      );
      expect(committed).toEqual(["small, fits alone", null, 3_000_000, "after the big one"]);
    });
  });

  it("two pages of one context see each other's writes, and a batch becomes visible to the other page all at once", {
    timeout: 60_000,
  }, async () => {
    await withContext(async (context) => {
      const [first, second] = [await openPage(context), await openPage(context)];
      await inPage(first, (api) => api.indexedDbStorage().set("from-first", "1"), null);
      expect(await inPage(second, (api) => api.indexedDbStorage().get("from-first"), null)).toBe(
        "1",
      );
      await inPage(
        second,
        (api) =>
          api.indexedDbStorage().batch!([
            { key: "from-second", value: "2" },
            { key: "from-first", value: null },
          ]),
        null,
      );
      expect(
        await inPage(
          first,
          async (api) => [
            await api.indexedDbStorage().get("from-second"),
            await api.indexedDbStorage().get("from-first"),
          ],
          null,
        ),
      ).toEqual(["2", null]);

      // The first page commits 150 batches, each writing round r to eight keys, while the
      // second takes consistent snapshots (one readonly transaction each). Every snapshot must
      // hold a single round: a batch's writes appear together or not at all.
      const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
      const rounds = 150;
      const reader = inPage(
        second,
        async (api, { keys, rounds }) => {
          const snapshots: (string | null)[][] = [];
          const deadline = Date.now() + 30_000;
          while (Date.now() < deadline) {
            const snapshot = await api.raw.snapshot("assured", "kv", keys);
            snapshots.push(snapshot);
            if (snapshot.every((v) => v === String(rounds))) break;
          }
          return snapshots;
        },
        { keys, rounds },
      );
      await inPage(
        first,
        async (api, { keys, rounds }) => {
          const storage = api.indexedDbStorage();
          for (let r = 1; r <= rounds; r++) {
            await storage.batch!(keys.map((key) => ({ key, value: String(r) })));
          }
        },
        { keys, rounds },
      );
      const snapshots = await reader;
      const mixed = snapshots.filter((s) => new Set(s).size !== 1);
      expect(mixed).toEqual([]);
      expect(snapshots.at(-1)).toEqual(keys.map(() => String(rounds)));
      // The reader looked while the batches were being written, not only before and after.
      const roundsSeen = new Set(snapshots.map((s) => s[0]));
      expect(roundsSeen.size).toBeGreaterThan(2);
    });
  });

  it("lets another tab delete the database (closes its connection on versionchange), then reopens it", async () => {
    await withContext(async (context) => {
      const [first, second] = [await openPage(context), await openPage(context)];
      // One storage instance (one connection) that lives on in the first page.
      await inPage(
        first,
        (api) => {
          const kept = api.indexedDbStorage();
          (globalThis as unknown as { kept: typeof kept }).kept = kept;
          return kept.set("k", "v");
        },
        null,
      );
      const deleted = await inPage(second, (api) => api.raw.deleteDatabase("assured"), null);
      expect(deleted).toBe("deleted");
      const after = await inPage(
        first,
        async (api) => {
          const storage = (
            globalThis as unknown as { kept: ReturnType<typeof api.indexedDbStorage> }
          ).kept;
          const before = await storage.get("k");
          await storage.set("k", "again");
          return [before, await storage.get("k")];
        },
        null,
      );
      expect(after).toEqual([null, "again"]);
    });
  });

  it("a storeName missing from an existing database fails with STORE_UNAVAILABLE and the fix", async () => {
    await withContext(async (context) => {
      const page = await openPage(context);
      const settled = await inPage(
        page,
        async (api) => {
          await api.indexedDbStorage({ dbName: "shared", storeName: "one" }).set("k", "v");
          return api.settle(api.indexedDbStorage({ dbName: "shared", storeName: "two" }).get("k"));
        },
        null,
      );
      expect(settled).toMatchObject({
        ok: false,
        code: "STORE_UNAVAILABLE",
        causeName: "NotFoundError",
      });
      expect(settled.ok || settled.message).toContain("give each storeName its own dbName");
    });
  });

  it("where IndexedDB is denied (a sandboxed frame) the first write fails with STORE_UNAVAILABLE naming the alternatives", async () => {
    await withContext(async (context) => {
      const page = await openPage(context);
      // The frame has an opaque origin, so its import of the bundle is cross-origin: serve it
      // with CORS (and the frame itself) through request interception.
      const bundleUrl = `${site!.url}/cors/assured-client.js`;
      await page.route(`${site!.url}/cors/**`, (route) => {
        const path = new URL(route.request().url()).pathname;
        return path === "/cors/assured-client.js"
          ? route.fulfill({
              body: bundle,
              contentType: "text/javascript",
              headers: { "access-control-allow-origin": "*" },
            })
          : route.fulfill({ body: sandboxedStorageFrame(bundleUrl), contentType: "text/html" });
      });
      const message = await page.evaluate(
        (src) =>
          new Promise<unknown>((resolve) => {
            addEventListener("message", (event) => resolve(event.data), { once: true });
            const frame = document.createElement("iframe");
            frame.sandbox.add("allow-scripts");
            frame.src = src;
            document.body.append(frame);
          }),
        `${site!.url}/cors/frame.html`,
      );
      expect(message).toMatchObject({
        ok: false,
        code: "STORE_UNAVAILABLE",
        causeName: "SecurityError",
      });
      const text = (message as { message: string }).message;
      expect(text).toContain("webStorage(localStorage)");
      expect(text).toContain("memoryStorage()");
    });
  });
});

describe("webStorage(localStorage) in headless Chromium", () => {
  it("a batch rolls back on a real QuotaExceededError (a 6 MB value; the quota is about 5 MB)", async () => {
    await withContext(async (context) => {
      const page = await openPage(context);
      const result = await inPage(
        page,
        async (api) => {
          localStorage.setItem("app:keep", "old");
          localStorage.setItem("app:replace", "before");
          const storage = api.webStorage(localStorage, { prefix: "app:" });
          const settled = await api.settle(
            storage.batch!([
              { key: "a", value: "1" },
              { key: "keep", value: null },
              { key: "replace", value: "after" },
              { key: "big", value: "x".repeat(6_000_000) },
              { key: "b", value: "2" },
            ]),
          );
          const after = Object.fromEntries(
            Array.from({ length: localStorage.length }, (_, i) => {
              const key = localStorage.key(i)!;
              return [key, localStorage.getItem(key)];
            }),
          );
          await storage.batch!([
            { key: "a", value: "1" },
            { key: "keep", value: null },
          ]);
          return {
            settled,
            after,
            committed: [localStorage.getItem("app:a"), localStorage.getItem("app:keep")],
          };
        },
        null,
      );
      expect(result.settled).toMatchObject({
        ok: false,
        code: "STORE_UNAVAILABLE",
        causeName: "QuotaExceededError",
      });
      expect(result.settled.ok || result.settled.message).toContain(
        "nothing of the batch was kept",
      );
      expect(result.after).toEqual({ "app:keep": "old", "app:replace": "before" });
      expect(result.committed).toEqual(["1", null]);
    });
  });
});
