import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromiumArgs, chromiumPath, freePort } from "@assured/test-services";
import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatPage } from "./chat-page.js";
import { type ChatProcess, startChatProcess } from "./chat-process.js";

const RESULTS_DIR = fileURLToPath(new URL("../test-results/", import.meta.url));
const PHONE = { width: 360, height: 640 };

describe("the chat page on a 360 × 640 screen, and its Try this panel", () => {
  let dir: string;
  let server: ChatProcess | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "assured-chat-small-"));
    const port = await freePort();
    [server, browser] = await Promise.all([
      startChatProcess({ dbPath: join(dir, "chat.sqlite"), port }),
      chromium.launch({ executablePath: chromiumPath, args: chromiumArgs }),
    ]);
    mkdirSync(RESULTS_DIR, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  async function phonePage(name: string): Promise<ChatPage> {
    const context = await browser!.newContext({ viewport: PHONE, hasTouch: true });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const chat = new ChatPage(page);
    await chat.open(server!.url, name);
    await chat.status("online", 0);
    return chat;
  }

  it("every control is on screen: join a room, change the name and send, all through the UI", async () => {
    const chat = await phonePage("Dana");
    const { page } = chat;
    const controls = {
      rooms: page.locator("#rooms"), // a row that scrolls sideways when the rooms do not fit
      currentRoom: page.locator('#rooms [aria-current="true"]'),
      joinInput: page.locator("#join-input"),
      joinButton: page.locator("#join-form button[type=submit]"),
      name: page.locator("#me-name"),
      rename: page.locator("#rename"),
      title: page.locator("#room-title"),
      status: page.locator("#status"),
      tips: page.locator("#tips summary"),
      text: page.locator("#text"),
      send: page.locator("#send"),
    };
    for (const [what, control] of Object.entries(controls))
      await expectOnScreen(page, control, what);
    // Nothing sticks out sideways either (no horizontal scrolling).
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
      PHONE.width,
    );

    await controls.joinInput.fill("phones");
    await controls.joinButton.click();
    const joined = page.locator('#rooms [data-room="phones"][aria-current="true"]');
    await joined.waitFor();
    await expectOnScreen(page, joined, "the room just joined");
    expect(await controls.title.textContent()).toBe("#phones");

    await controls.rename.click();
    await page.locator("#name-input").fill("Dana on a phone");
    await page.locator("#name-form button[type=submit]").click();
    await page.locator("#name-dialog").waitFor({ state: "hidden" });
    expect(await controls.name.textContent()).toBe("Dana on a phone");

    await controls.text.fill("Hello from a small screen");
    await controls.send.click();
    await chat.deliveredTexts(["Hello from a small screen"]);
    await chat.status("online", 0);
    expect((await chat.lines()).map(({ author, text }) => ({ author, text }))).toEqual([
      { author: "Dana on a phone", text: "Hello from a small screen" },
    ]);

    // After all that, the controls are still where they were: on screen. The rooms no longer
    // fit in one row, and the row scrolls instead of widening the page.
    for (const [what, control] of Object.entries(controls)) {
      await expectOnScreen(page, control, what);
    }
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
      PHONE.width,
    );
    expect(await controls.rooms.evaluate((row) => row.scrollWidth > row.clientWidth)).toBe(true);
    await page.screenshot({ path: join(RESULTS_DIR, "chat-360.png") });

    // The first room, scrolled out of the row by the new one, is a swipe (here: a click) away.
    await page.locator('#rooms [data-room="general"]').click();
    expect(await controls.title.textContent()).toBe("#general");
    await expectOnScreen(page, controls.currentRoom, "the current room");
  });

  it("the Try this panel starts closed, opens over the chat without moving it, and closes again", async () => {
    const { page } = await phonePage("Eve");
    const tips = page.locator("#tips");
    const panel = page.locator("#tips .tips-panel");
    expect(await tips.getAttribute("open")).toBeNull();
    expect(await panel.isVisible()).toBe(false);
    const composerBefore = await page.locator("#composer").boundingBox();

    await page.locator("#tips summary").click();
    await panel.waitFor({ state: "visible" });
    await expectOnScreen(page, panel, "the Try this panel");
    const tipsText = await panel.locator("li").allInnerTexts();
    expect(tipsText.map((tip) => tip.split("\n")[0])).toEqual([
      "Go offline, then send. DevTools → Network → Offline.",
      "Stop the server, send, restart it. Ctrl-C in the terminal, send a few, pnpm start.",
      "Reload the page. Also while messages wait.",
      "Scroll up. In a room with more than 50 messages.",
      "Open a second tab. Chat in both.",
    ]);
    for (const tip of tipsText) expect(tip).toMatch(/\nWatch: /);
    // It lies over the messages: the composer did not move.
    expect(await page.locator("#composer").boundingBox()).toEqual(composerBefore);
    await page.screenshot({ path: join(RESULTS_DIR, "chat-360-tips.png") });

    await page.keyboard.press("Escape");
    await panel.waitFor({ state: "hidden" });
    await page.locator("#tips summary").click();
    await panel.waitFor({ state: "visible" });
    await page.locator("#room-title").click(); // anywhere outside the panel
    await panel.waitFor({ state: "hidden" });
    await page.locator("#tips summary").click();
    await page.locator("#tips summary").click();
    await panel.waitFor({ state: "hidden" });
  });
});

/** Fails unless `control` is visible and lies entirely inside the viewport. */
async function expectOnScreen(page: Page, control: Locator, what: string): Promise<void> {
  const box = await control.boundingBox();
  const viewport = page.viewportSize()!;
  expect(box, `${what} is not shown`).not.toBeNull();
  const { x, y, width, height } = box!;
  expect(width > 0 && height > 0, `${what} has no size`).toBe(true);
  expect(
    { x, y, right: x + width, bottom: y + height },
    `${what} is outside the ${viewport.width} × ${viewport.height} viewport`,
  ).toEqual({
    x: expect.toSatisfy((v: number) => v >= 0),
    y: expect.toSatisfy((v: number) => v >= 0),
    right: expect.toSatisfy((v: number) => v <= viewport.width),
    bottom: expect.toSatisfy((v: number) => v <= viewport.height),
  });
}
