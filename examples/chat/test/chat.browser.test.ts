import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromiumArgs, chromiumPath, freePort } from "@assured/test-services";
import { type Browser, type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatPage } from "./chat-page.js";
import { type ChatProcess, startChatProcess } from "./chat-process.js";

const RESULTS_DIR = fileURLToPath(new URL("../test-results/", import.meta.url));
const OFFLINE_BANNER =
  "You are offline. Messages you send are kept on this device and will be sent when you are back online.";
const UNREACHABLE_BANNER =
  "The server cannot be reached, though your network is up. Messages you send are kept on this device and will be sent when it is back.";

describe("the chat page in Chromium", () => {
  let dir: string;
  let dbPath: string;
  let port: number;
  let server: ChatProcess | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "assured-chat-browser-"));
    dbPath = join(dir, "chat.sqlite");
    port = await freePort();
    [server, browser] = await Promise.all([
      startChatProcess({ dbPath, port }),
      chromium.launch({ executablePath: chromiumPath, args: chromiumArgs }),
    ]);
    mkdirSync(RESULTS_DIR, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("G5/G8/G9: an offline page's queued messages and a server SIGKILL: both pages end with every message once, in the same order", async () => {
    const open = async (name: string): Promise<[BrowserContext, ChatPage]> => {
      const context = await browser!.newContext({ viewport: { width: 1000, height: 640 } });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const chat = new ChatPage(page);
      await chat.open(server!.url, name);
      await chat.status("online", 0);
      return [context, chat];
    };
    const [contextA, alice] = await open("Alice");
    const [, bob] = await open("Bob");

    await alice.send("Hi Bob!");
    await Promise.all([alice.deliveredTexts(["Hi Bob!"]), bob.deliveredTexts(["Hi Bob!"])]);
    await bob.send("Hey Alice, how are you?");
    const greeting = ["Hi Bob!", "Hey Alice, how are you?"];
    await Promise.all([alice.deliveredTexts(greeting), bob.deliveredTexts(greeting)]);
    // A message reaches the room before its sender gets the server's answer: wait for both
    // answers, so only the messages typed offline wait in the outbox.
    await Promise.all([alice.status("online", 0), bob.status("online", 0)]);

    // Alice loses her network and keeps typing: her messages wait in the outbox, greyed.
    await contextA.setOffline(true);
    await alice.status("offline", 0);
    expect(await alice.connectionBanner()).toBe(OFFLINE_BANNER);
    await alice.send("Good! On the train, signal is patchy");
    await alice.send("Did you see the release notes?");
    await alice.status("offline", 2);
    await alice.pendingLines(2);
    const queued = (await alice.lines()).filter((line) => line.state === "pending");
    expect(queued.map((line) => line.text)).toEqual([
      "Good! On the train, signal is patchy",
      "Did you see the release notes?",
    ]);
    expect(queued.every((line) => line.opacity < 1)).toBe(true);
    await alice.page.screenshot({ path: join(RESULTS_DIR, "chat-offline.png") });

    // Bob keeps chatting; then the server dies without warning while Bob sends again.
    await bob.send("Alice? You went quiet");
    await bob.deliveredTexts([...greeting, "Alice? You went quiet"]);
    // The event reaches the room before the server's answer: wait for the answer too, so the
    // kill does not catch the message still in Bob's outbox.
    await bob.status("online", 0);
    // Bob's network is up: the page says the server is unreachable, not that he is offline.
    await server!.kill();
    await bob.status("unreachable", 0);
    expect(await bob.connectionBanner()).toBe(UNREACHABLE_BANNER);
    await bob.send("The server just went down, this one will wait");
    await bob.status("unreachable", 1);
    await bob.pendingLines(1);
    await bob.page.screenshot({ path: join(RESULTS_DIR, "chat-unreachable.png") });

    // The server restarts on the same file; Bob's message goes through, then Alice comes back.
    server = await startChatProcess({ dbPath, port });
    await bob.status("online", 0);
    expect(await bob.connectionBanner()).toBeNull();
    await contextA.setOffline(false);
    await alice.status("online", 0);
    expect(await alice.connectionBanner()).toBeNull();

    const all = [
      ...greeting,
      "Alice? You went quiet",
      "The server just went down, this one will wait",
      "Good! On the train, signal is patchy",
      "Did you see the release notes?",
    ];
    await Promise.all([alice.deliveredTexts(all), bob.deliveredTexts(all)]);
    const [aliceLines, bobLines] = await Promise.all([alice.lines(), bob.lines()]);
    const summary = (lines: typeof aliceLines) =>
      lines.map(({ offset, author, text }) => ({ offset, author, text }));
    expect(summary(aliceLines)).toEqual(summary(bobLines));
    expect(aliceLines.map((line) => line.offset)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(aliceLines.every((line) => line.opacity === 1)).toBe(true);
    await alice.page.screenshot({ path: join(RESULTS_DIR, "chat.png") });

    // A reload shows the same history (kept on the device, then resumed from the position).
    await bob.page.reload();
    await bob.status("online", 0);
    await bob.deliveredTexts(all);
    expect(summary(await bob.lines())).toEqual(summary(aliceLines));
  });

  it("G6: a wiped server file shows a banner with the reason, and resync loads the new history", async () => {
    await server?.kill();
    const wipedDb = join(dir, "wiped.sqlite");
    server = await startChatProcess({ dbPath: wipedDb, port });
    const context = await browser!.newContext({ viewport: { width: 1000, height: 640 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const carol = new ChatPage(page);
    await carol.open(server.url, "Carol");
    await carol.status("online", 0);
    await carol.send("Written before the wipe");
    await carol.deliveredTexts(["Written before the wipe"]);
    // Wait for the server's answer as well (it follows the event): a message still in the
    // outbox would be sent again to the wiped server, which would run it again (its dedup
    // record is gone too) and publish it into the new log.
    await carol.status("online", 0);

    // The server loses its data: a new log (new epoch) on the same address.
    await server.kill();
    for (const suffix of ["", "-wal", "-shm"]) rmSync(wipedDb + suffix, { force: true });
    server = await startChatProcess({ dbPath: wipedDb, port });

    const banner = page.locator("#banner");
    await banner.waitFor({ state: "visible" });
    expect(await page.locator("#banner-text").textContent()).toContain("(epoch)");
    await carol.status("online", 0);
    await page.screenshot({ path: join(RESULTS_DIR, "chat-banner.png") });

    // New messages still arrive live; resync replays the new log from its start.
    await postMessage(server.url, "Posted after the wipe");
    await carol.deliveredTexts(["Posted after the wipe"]);
    await page.locator("#resync").click();
    await banner.waitFor({ state: "hidden" });
    await carol.send("Back in sync");
    await carol.deliveredTexts(["Posted after the wipe", "Back in sync"]);
    expect((await carol.lines()).map((line) => line.offset)).toEqual([1, 2]);
  });
});

async function postMessage(url: string, text: string): Promise<void> {
  const response = await fetch(`${url}/api/rooms/general/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ author: "deploy-bot", text }),
  });
  expect(response.status).toBe(200);
}
