import type { Page } from "playwright-core";

/** A message as a chat page shows it. */
export interface ShownLine {
  text: string;
  author: string;
  /** `delivered` (with an offset), or `pending` / `sent` / `failed` for the page's own. */
  state: string;
  offset: number | null;
  /** The element's opacity: pending messages are greyed. */
  opacity: number;
}

/** Drives the chat page through its UI, the way a person would. */
export class ChatPage {
  constructor(readonly page: Page) {}

  /** Opens the chat and answers the name prompt. */
  async open(url: string, name: string): Promise<void> {
    await this.page.goto(url);
    await this.page.locator("#name-input").fill(name);
    await this.page.locator("#name-input").press("Enter");
    await this.page.locator("#name-dialog").waitFor({ state: "hidden" });
  }

  /** Types a message and presses Enter. */
  async send(text: string): Promise<void> {
    await this.page.locator("#text").fill(text);
    await this.page.locator("#text").press("Enter");
  }

  /** Every message line of the current room, top to bottom. */
  lines(): Promise<ShownLine[]> {
    return this.page.$$eval("#messages li.message", (items) =>
      items.map((li) => {
        const element = li as HTMLElement;
        return {
          text: element.querySelector(".text")?.textContent ?? "",
          author: element.querySelector(".author")?.textContent ?? "",
          state: element.dataset.state ?? "",
          offset: element.dataset.offset === undefined ? null : Number(element.dataset.offset),
          opacity: Number(getComputedStyle(element).opacity),
        };
      }),
    );
  }

  /** Resolves once the connection indicator shows `state` with `pending` messages waiting. */
  async status(state: "online" | "offline" | "unreachable", pending: number): Promise<void> {
    await this.page.waitForFunction(
      ([s, p]) => {
        const status = document.getElementById("status");
        return status?.dataset.state === s && status.dataset.pending === String(p);
      },
      [state, pending] as const,
    );
  }

  /** The connection banner's text, or null while it is hidden. */
  async connectionBanner(): Promise<string | null> {
    const banner = this.page.locator("#connection-banner");
    if (!(await banner.isVisible())) return null;
    return this.page.locator("#connection-banner-text").textContent();
  }

  /** Resolves once exactly these texts are shown, delivered (not pending), in this order. */
  async deliveredTexts(texts: readonly string[]): Promise<void> {
    await this.page.waitForFunction((expected) => {
      const items = Array.from(document.querySelectorAll<HTMLElement>("#messages li.message"));
      return (
        items.length === expected.length &&
        items.every(
          (li, i) =>
            li.dataset.state === "delivered" &&
            li.querySelector(".text")?.textContent === expected[i],
        )
      );
    }, texts);
  }

  /** Resolves once `count` of the page's own messages wait greyed for the server. */
  async pendingLines(count: number): Promise<void> {
    await this.page.waitForFunction(
      (n) => document.querySelectorAll('#messages li.message[data-state="pending"]').length === n,
      count,
    );
  }
}
