/**
 * The chaos tab's page script (bundled by `buildTabPage`, run in Chromium; not imported by
 * Node): one real `@assured/client` with its positions and outbox in `localStorage`, on a
 * socket.io-client socket to the fault proxy, subscribed to every stream from `"earliest"`,
 * sending `record` `{ client, n }` messages at a seeded Poisson rate — what `WorkerClient` does —
 * and handing every `ChaosLogLine` to the Node side. A reload starts a new page life on the
 * stored positions and outbox: it continues the message counter, and logs the settlement of
 * earlier lives' messages from `onResult` / `client.result(id)` (their promises are gone).
 *
 * Lines are batched per task (flushed in a microtask, so a reload, which runs between tasks,
 * never splits one) and kept in the page's `TabJournal` until the Node side has them.
 */
import {
  createAssuredClient,
  type EventMeta,
  isAssuredError,
  type RecoveryOutcome,
  type SettledResult,
  webStorage,
} from "@assured/client";
import { newId } from "@assured/core/store";
import { io } from "socket.io-client";
import { TabJournal } from "./browser-tab-journal.js";
import {
  TAB_ACK,
  TAB_API,
  TAB_CONFIGURE,
  TAB_SEND,
  type TabLine,
  type TabMessage,
  type TabPageApi,
  type TabStart,
  type TabSync,
} from "./browser-tab-protocol.js";
import type { ChaosMessageAnswer, ChaosMessageData } from "./chaos-log.js";
import type { UnstampedLine } from "./client-worker-log.js";
import { mixSeed } from "./client-worker-protocol.js";
import { SeededRandom } from "./seeded-random.js";

type Bindings = {
  [TAB_SEND]: (payload: string) => void;
  [TAB_CONFIGURE]: (answer: unknown) => void;
  [TAB_ACK]: (seq: number) => void;
  [TAB_API]: TabPageApi;
};
const page = globalThis as unknown as Bindings;
const send = (message: TabMessage): void => page[TAB_SEND](JSON.stringify(message));
const ask = <T>(hello: "sync" | "start"): Promise<T> =>
  new Promise<T>((resolve) => {
    page[TAB_CONFIGURE] = resolve as (answer: unknown) => void;
    send({ hello });
  });

// What the Node side did not take from earlier page lives goes first; then the config.
const sync = await ask<TabSync>("sync");
const journal = new TabJournal(localStorage, (seq, lines) => send({ seq, lines }));
journal.resend(sync.received);
page[TAB_ACK] = (seq) => journal.ack(seq);
const config = { ...sync, ...(await ask<TabStart>("start")) };
const name = config.name;
let buffer: TabLine[] = [];

function append(line: UnstampedLine | (UnstampedLine & { via: "result" })): void {
  const { kind, ...rest } = line;
  buffer.push({ kind, t: Date.now() - config.startedAt, ...rest } as TabLine);
  if (buffer.length === 1) queueMicrotask(flush);
}

function flush(): void {
  const lines = buffer;
  buffer = [];
  if (lines.length > 0) journal.write(lines);
}

const socket = io(config.url, {
  autoConnect: false,
  forceNew: true,
  transports: ["websocket"],
  reconnectionDelay: 50,
  reconnectionDelayMax: 500,
});
socket.on("connect", () => append({ kind: "connection", client: name, connected: true }));
socket.on("disconnect", (reason) => {
  append({ kind: "connection", client: name, connected: false, reason });
});
const client = createAssuredClient(socket, {
  storage: webStorage(localStorage),
  retry: { initialMs: 50, maxMs: 1000, factor: 2 },
  ackTimeoutMs: 5000,
});
const subscribed = new Set<string>();
client.on("e", (data, meta: EventMeta) => {
  append({
    kind: "delivery",
    client: name,
    stream: meta.stream,
    epoch: meta.epoch,
    offset: meta.offset,
    id: meta.id,
    data,
  });
});
client.onRecovery((outcome: RecoveryOutcome) => {
  subscribed.add(outcome.stream);
  append({
    kind: "outcome",
    client: name,
    stream: outcome.stream,
    recovered: outcome.recovered,
    ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
    epoch: outcome.position.epoch,
    offset: outcome.position.offset,
  });
  if (!api.ready && socket.connected && subscribed.size === config.streams.length) start();
});
client.onError((error) => {
  append({ kind: "error", client: name, code: error.code, message: error.message });
});

// Messages of earlier page lives: settled from their results, once each.
const earlier = new Map(config.unsettled.map((m) => [m.id, m.n]));
function settleEarlier(id: string, result: SettledResult): void {
  const n = earlier.get(id);
  if (n === undefined) return;
  earlier.delete(id);
  append(
    result.ok
      ? { kind: "settled", client: name, id, n, ok: true, value: result.value, via: "result" }
      : { kind: "settled", client: name, id, n, ok: false, code: result.error.code, via: "result" },
  );
}
client.onResult(settleEarlier);
for (const stream of config.streams) client.subscribe(stream, { from: "earliest" });

const random = new SeededRandom(mixSeed(config.seed, `${name}#${config.life}`));
let nextN = config.nextN;
let sending = false;
let timer: ReturnType<typeof setTimeout> | undefined;

function start(): void {
  api.ready = true;
  sending = true;
  scheduleNext();
}

function scheduleNext(): void {
  if (!sending || timer !== undefined || config.messagesPerSecond <= 0) return;
  if (nextN > config.maxMessages) return;
  // Exponential gaps: a Poisson process of `messagesPerSecond`.
  const delay = (-Math.log(1 - random.next()) * 1000) / config.messagesPerSecond;
  timer = setTimeout(() => {
    timer = undefined;
    if (!sending) return;
    sendMessage();
    scheduleNext();
  }, delay);
}

function sendMessage(): void {
  const n = nextN++;
  const id = newId();
  const data: ChaosMessageData = { client: name, n };
  append({ kind: "emit", client: name, id, n });
  client.emit<ChaosMessageAnswer>("record", data, { id }).then(
    (value) => append({ kind: "settled", client: name, id, n, ok: true, value }),
    (error: unknown) => {
      const code = isAssuredError(error) ? error.code : "UNKNOWN";
      append({ kind: "settled", client: name, id, n, ok: false, code });
    },
  );
}

const api: TabPageApi = {
  ready: false,
  connected: () => socket.connected,
  pending: () => client.pending().map((m) => m.id),
  close: async () => {
    sending = false;
    clearTimeout(timer);
    await client.close();
    socket.disconnect();
  },
};
page[TAB_API] = api;

await client.connect();
// Results stored before the reload (the answer came, the page went before its line did).
for (const id of [...earlier.keys()]) {
  const result = await client.result(id);
  if (result !== undefined) settleEarlier(id, result);
}
