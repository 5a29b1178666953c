/**
 * What a chaos tab's page (`browser-tab-page.ts`, bundled and run in Chromium) and its Node
 * side (`browser-tab.ts`) exchange. The page calls one DevTools binding, `TAB_SEND`, with a
 * JSON `TabMessage`; the Node side answers a hello by calling the page's `TAB_CONFIGURE`, and
 * acknowledges batches of lines with `TAB_ACK`.
 *
 * The lines must all arrive, in order, also those of a page that is being reloaded (the calls
 * of a page going away can be dropped, by Playwright's `exposeFunction` and by the DevTools
 * channel itself). So the page keeps each batch in its localStorage, numbered, until the Node
 * side acknowledges it; a new page life first asks what arrived (`sync`), sends the batches
 * that did not, and only then asks for the rest of its config (`start`), which depends on
 * every line of the earlier life. The Node side takes each batch once, in number order.
 */
import type { ChaosLogLine } from "./chaos-log.js";

/** The binding the page calls with a JSON `TabMessage`. */
export const TAB_SEND = "chaosTabSend";
/** The page's function the Node side calls with the answer to a hello. */
export const TAB_CONFIGURE = "chaosTabConfigure";
/** The page's function the Node side calls with the number of the last batch it took. */
export const TAB_ACK = "chaosTabAck";
/** The page's API for the Node side, on `window`. */
export const TAB_API = "chaosTab";

/** A message an earlier page life emitted and no line has settled yet. */
export interface UnsettledMessage {
  id: string;
  n: number;
}

/** The answer to `sync`: what every page life of the tab shares, and the last batch taken. */
export interface TabSync {
  /** The client's name, the same in every page life (`t0`, `t1`…). */
  name: string;
  /** Where the socket connects (the fault proxy). */
  url: string;
  streams: string[];
  /** The orchestrator's `Date.now()` at the run's start: a line's `t` counts from it. */
  startedAt: number;
  messagesPerSecond: number;
  maxMessages: number;
  /** Seeds the gaps between messages (mixed with the name and the page life). */
  seed: number;
  /** The number of the last batch of lines the Node side took (0: none). */
  received: number;
}

/** The answer to `start`, once every line of the earlier page lives arrived. */
export interface TabStart {
  /** 0 for the first page life, then one more per reload. */
  life: number;
  /** The counter of the next message (earlier page lives emitted `1 … nextN - 1`). */
  nextN: number;
  /**
   * Messages of earlier page lives still unsettled: their promises are gone, so the page logs
   * their settlement from `client.onResult` or `client.result(id)`.
   */
  unsettled: UnsettledMessage[];
}

/**
 * A line as the page sends it: a `ChaosLogLine`, where a `settled` line read from
 * `onResult`/`result(id)` (a message of an earlier page life) is marked `via: "result"`.
 */
export type TabLine =
  | ChaosLogLine
  | (Extract<ChaosLogLine, { kind: "settled" }> & { via: "result" });

/** What the page sends: two hellos at the start of each page life (in this order), or a batch. */
export type TabMessage = { hello: "sync" } | { hello: "start" } | { seq: number; lines: TabLine[] };

/** What the page exposes on `window.chaosTab`. */
export interface TabPageApi {
  /** Connected, with a first outcome for every stream in this page life; sending started. */
  ready: boolean;
  connected(): boolean;
  /** Ids in the outbox still waiting for an answer. */
  pending(): string[];
  /** Stops sending and closes the client (pending `emit`s reject with `CLOSED`). */
  close(): Promise<void>;
}
