import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromiumArgs, chromiumPath, freePort } from "@assured/test-services";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PAGE_SIZE } from "../src/page/older-messages.js";
import { ChatPage } from "./chat-page.js";
import { type ChatProcess, startChatProcess } from "./chat-process.js";

/** Messages in the room before the page opens: more than two pages. */
const SEEDED = 2 * PAGE_SIZE + 20;

describe("older messages in Chromium (client.history)", () => {
  let dir: string;
  let server: ChatProcess | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "assured-chat-history-"));
    const port = await freePort();
    [server, browser] = await Promise.all([
      startChatProcess({ dbPath: join(dir, "chat.sqlite"), port }),
      chromium.launch({ executablePath: chromiumPath, args: chromiumArgs }),
    ]);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a first visit shows the latest page; scrolling to the top loads older ones until the room's start, live messages still arrive", async () => {
    for (let n = 1; n <= SEEDED; n++) await post(server!.url, `message ${n}`);
    const context = await browser!.newContext({ viewport: { width: 1000, height: 640 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const dave = new ChatPage(page);
    await dave.open(server!.url, "Dave");
    await dave.status("online", 0);

    // Only the newest page is shown: the subscription starts at the head.
    await dave.deliveredTexts(texts(SEEDED - PAGE_SIZE + 1, SEEDED));
    const list = page.locator("#messages");
    expect(await list.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);

    // Scrolled to the top: the page before it is added above, the view stays where it was.
    await list.evaluate((el) => {
      el.scrollTop = 0;
    });
    await dave.deliveredTexts(texts(SEEDED - 2 * PAGE_SIZE + 1, SEEDED));
    expect(await list.evaluate((el) => el.scrollTop)).toBeGreaterThan(0);

    await list.evaluate((el) => {
      el.scrollTop = 0;
    });
    await dave.deliveredTexts(texts(1, SEEDED));
    const lines = await dave.lines();
    expect(lines.map((line) => line.offset)).toEqual(range(1, SEEDED));

    // At the start of the room, scrolling up adds nothing; live delivery goes on.
    await list.evaluate((el) => {
      el.scrollTop = 0;
    });
    await dave.send("Caught up!");
    await dave.deliveredTexts([...texts(1, SEEDED), "Caught up!"]);
    expect((await dave.lines()).at(-1)?.offset).toBe(SEEDED + 1);

    // A reload shows what was loaded (kept on the device) and resumes live delivery.
    await page.reload();
    await dave.status("online", 0);
    await dave.deliveredTexts([...texts(1, SEEDED), "Caught up!"]);
    await post(server!.url, "After the reload");
    await dave.deliveredTexts([...texts(1, SEEDED), "Caught up!", "After the reload"]);
    await context.close();
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function texts(from: number, to: number): string[] {
  return range(from, to).map((n) => `message ${n}`);
}

async function post(url: string, text: string): Promise<void> {
  const response = await fetch(`${url}/api/rooms/general/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ author: "seed-bot", text }),
  });
  expect(response.status).toBe(200);
}
