import {
  type AssuredError,
  createAssuredClient,
  io,
  isAssuredError,
  type RecoveryOutcome,
  type SettledResult,
  webStorage,
} from "@assured/client/browser";
import {
  type ChatMessage,
  checkAuthor,
  checkMessageText,
  FIXED_ROOMS,
  pageEventId,
  roomOfStream,
  roomStream,
  type SendResult,
} from "../chat-protocol.js";
import { renderConnection, watchConnection } from "./connection.js";
import { notifyingStorage } from "./notifying-storage.js";
import { OlderMessages } from "./older-messages.js";
import { type OutgoingMessage, OutgoingMessages } from "./outgoing.js";
import { randomId } from "./random-id.js";
import { RoomHistory } from "./room-history.js";
import { RoomList } from "./room-list.js";
import { setUpTips } from "./tips.js";
import { byId, type MessageItem, paintAvatar, renderMessages, renderRooms } from "./view.js";

// The chat page: every room is an Assured stream, every message goes through the outbox.

const NAME_KEY = "chat:name";
const CURRENT_KEY = "chat:current";

const storage = window.localStorage;
const rooms = new RoomList(storage);
let current = rooms.has(storage.getItem(CURRENT_KEY) ?? "")
  ? (storage.getItem(CURRENT_KEY) as string)
  : FIXED_ROOMS[0];
let name = storage.getItem(NAME_KEY) ?? "";
const histories = new Map<string, RoomHistory>();
const outgoing = new OutgoingMessages(storage);
/** Rooms whose last (re)subscription could not recover the history (G6). */
const notRecovered = new Map<string, RecoveryOutcome>();

const socket = io({ autoConnect: false, reconnectionDelay: 500, reconnectionDelayMax: 2000 });
const client = createAssuredClient(socket, {
  storage: notifyingStorage(webStorage(storage), () => scheduleStatus()),
});

const ui = {
  rooms: byId("rooms"),
  joinForm: byId<HTMLFormElement>("join-form"),
  joinInput: byId<HTMLInputElement>("join-input"),
  joinError: byId("join-error"),
  meAvatar: byId("me-avatar"),
  meName: byId("me-name"),
  rename: byId<HTMLButtonElement>("rename"),
  title: byId("room-title"),
  status: byId("status"),
  statusText: byId("status-text"),
  connectionBanner: byId("connection-banner"),
  connectionBannerText: byId("connection-banner-text"),
  tips: byId<HTMLDetailsElement>("tips"),
  banner: byId("banner"),
  bannerText: byId("banner-text"),
  resync: byId<HTMLButtonElement>("resync"),
  messages: byId("messages"),
  empty: byId("empty"),
  composer: byId<HTMLFormElement>("composer"),
  text: byId<HTMLTextAreaElement>("text"),
  sendError: byId("send-error"),
  nameDialog: byId<HTMLDialogElement>("name-dialog"),
  nameForm: byId<HTMLFormElement>("name-form"),
  nameInput: byId<HTMLInputElement>("name-input"),
  nameError: byId("name-error"),
};

// ——— Assured ———

client.on<ChatMessage>("chat:message", (data, meta) => {
  const room = roomOfStream(meta.stream);
  if (room === null) return;
  const added = historyOf(room).add(meta.epoch, {
    offset: meta.offset,
    id: meta.id,
    author: data.author,
    text: data.text,
    time: meta.time,
  });
  const mine = myMessageId(meta.id);
  if (mine !== undefined) outgoing.remove(mine);
  if (added) scheduleRender();
});

client.onRecovery((outcome) => {
  const room = roomOfStream(outcome.stream);
  if (room === null) return;
  if (outcome.recovered) notRecovered.delete(room);
  else notRecovered.set(room, outcome);
  // A room new to this device starts live at the head: show its latest page of history.
  if (historyOf(room).messages.length === 0) void older.load(room, outcome.position.offset + 1);
  scheduleRender();
});

// Older messages are read with client.history when the list is scrolled to the top.
const older = new OlderMessages(client, historyOf, (room) => {
  if (room === current) renderKeepingView();
  else scheduleRender();
});

client.onResult((id, result) => {
  settle(id, result);
  scheduleRender();
});

client.onError((error) => console.warn(`[assured] ${error.code}: ${error.message}`));

const connection = watchConnection(socket, () => refreshStatus());

async function start(): Promise<void> {
  for (const room of rooms.all) client.subscribe(roomStream(room), { from: "head" });
  await client.connect();
  await resumeOutgoing();
  render(true);
}

/**
 * After a reload: the Assured outbox resends what it holds by itself; settle what was answered
 * while the page was away, and send again (same id, so at most once) what never reached the
 * outbox because the page closed first.
 */
async function resumeOutgoing(): Promise<void> {
  const inOutbox = new Set(client.pending().map((m) => m.id));
  for (const message of outgoing.all()) {
    if (delivered(message)) outgoing.remove(message.id);
    else if (message.state !== "pending" || inOutbox.has(message.id)) continue;
    else {
      const result = await client.result(message.id);
      if (result) settle(message.id, result);
      else dispatch(message);
    }
  }
}

function send(text: string): void {
  const message: OutgoingMessage = {
    id: randomId(),
    room: current,
    author: name,
    text,
    createdAt: Date.now(),
    state: "pending",
  };
  outgoing.add(message);
  dispatch(message);
  render(true);
}

function dispatch(message: OutgoingMessage): void {
  const { room, author, text } = message;
  client
    .emit<SendResult>("chat:send", { room, author, text }, { id: message.id })
    .catch((error: unknown) => {
      // Answers from the server arrive through onResult; this catches what never got queued
      // (outbox full, storage failing). CLOSED only means the page is going away.
      if (isAssuredError(error) && error.code === "CLOSED") return;
      outgoing.update(message.id, { state: "failed", error: describe(error) });
      scheduleRender();
    });
}

function settle(id: string, result: SettledResult): void {
  const message = outgoing.get(id);
  if (!message) return;
  if (!result.ok) outgoing.update(id, { state: "failed", error: describe(result.error) });
  else if (delivered(message)) outgoing.remove(id);
  else outgoing.update(id, { state: "sent" });
}

function resync(room: string): void {
  const outcome = notRecovered.get(room);
  notRecovered.delete(room);
  if (outcome?.reason !== "limit") {
    historyOf(room).clear();
    client.resubscribe(roomStream(room), { from: "head" });
  }
  render(true);
}

// ——— state helpers ———

function historyOf(room: string): RoomHistory {
  let history = histories.get(room);
  if (!history) {
    history = new RoomHistory(storage, room);
    histories.set(room, history);
  }
  return history;
}

function myMessageId(eventId: string): string | undefined {
  const prefix = client.clientId === undefined ? undefined : pageEventId(client.clientId, "");
  return prefix !== undefined && eventId.startsWith(prefix)
    ? eventId.slice(prefix.length)
    : undefined;
}

function delivered(message: OutgoingMessage): boolean {
  const clientId = client.clientId;
  return clientId !== undefined && historyOf(message.room).has(pageEventId(clientId, message.id));
}

function describe(error: AssuredError | unknown): string {
  if (!isAssuredError(error)) return String(error);
  const thrown = (error.details as { error?: { message?: unknown } } | undefined)?.error;
  return typeof thrown?.message === "string" ? thrown.message : error.message;
}

function joinRoom(input: string): string | undefined {
  const joined = rooms.join(input);
  if (!joined.ok) return joined.problem;
  if (joined.added) client.subscribe(roomStream(joined.room), { from: "head" });
  switchTo(joined.room);
  return undefined;
}

function switchTo(room: string): void {
  current = room;
  storage.setItem(CURRENT_KEY, room);
  ui.sendError.hidden = true;
  render(true);
  // On a narrow screen the rooms are a row that scrolls sideways: bring this one into view.
  ui.rooms.querySelector('[aria-current="true"]')?.scrollIntoView({ block: "nearest" });
  ui.text.focus();
}

// ——— rendering ———

let renderQueued = false;

function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => render(false), 0);
}

function render(toBottom: boolean): void {
  renderQueued = false;
  const history = historyOf(current);
  if (document.visibilityState === "visible") history.markSeen();
  renderRooms(
    ui.rooms,
    rooms.all.map((room) => ({
      name: room,
      unread: historyOf(room).unread,
      current: room === current,
      warning: notRecovered.has(room),
    })),
  );
  const unread = rooms.all.reduce((n, room) => n + historyOf(room).unread, 0);
  document.title = unread > 0 ? `(${unread}) Assured chat` : "Assured chat";
  ui.title.textContent = `#${current}`;
  ui.text.placeholder = `Message #${current}`;
  renderBanner(notRecovered.get(current));

  const items: MessageItem[] = history.messages.map((message) => ({
    kind: "delivered",
    message,
    mine: myMessageId(message.id) !== undefined,
  }));
  for (const message of outgoing.inRoom(current)) {
    if (!delivered(message)) items.push({ kind: "outgoing", message });
  }
  if (toBottom) ui.messages.scrollTop = ui.messages.scrollHeight;
  renderMessages(ui.messages, items);
  if (toBottom) ui.messages.scrollTop = ui.messages.scrollHeight;
  ui.empty.hidden = items.length > 0;
  refreshStatus();
  // A list too short to scroll cannot be scrolled to the top: load older messages right away.
  if (socket.connected && ui.messages.scrollHeight <= ui.messages.clientHeight + 80) {
    void older.load(current);
  }
}

/** Renders after older messages were added above, keeping the messages in view where they were. */
function renderKeepingView(): void {
  const { scrollHeight, scrollTop } = ui.messages;
  render(false);
  ui.messages.scrollTop = scrollTop + (ui.messages.scrollHeight - scrollHeight);
}

function renderBanner(outcome: RecoveryOutcome | undefined): void {
  ui.banner.hidden = outcome === undefined;
  if (!outcome) return;
  const why = {
    epoch: "the server's history was reset, so what you have here may not match it",
    diverged: "the server's history was rolled back, so what you have here may not match it",
    trimmed: "you were away longer than the server keeps messages",
    limit: "you missed more messages than the server replays at once; new messages still arrive",
  }[outcome.reason ?? "epoch"];
  ui.bannerText.textContent = `Could not catch up on #${current}: ${why} (${outcome.reason}).`;
  ui.resync.textContent = outcome.reason === "limit" ? "Dismiss" : "Load history again";
}

let statusQueued = false;

function scheduleStatus(): void {
  if (statusQueued) return;
  statusQueued = true;
  setTimeout(refreshStatus, 0);
}

function refreshStatus(): void {
  statusQueued = false;
  const { status, statusText, connectionBanner: banner, connectionBannerText: bannerText } = ui;
  renderConnection(
    { status, statusText, banner, bannerText },
    { state: connection(), pending: client.pending().length },
  );
}

function showName(): void {
  paintAvatar(ui.meAvatar, name);
  ui.meName.textContent = name;
}

// ——— user input ———

ui.rooms.addEventListener("click", (event) => {
  const button = (event.target as HTMLElement).closest<HTMLElement>("[data-room]");
  if (button?.dataset.room) switchTo(button.dataset.room);
});

ui.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const problem = joinRoom(ui.joinInput.value);
  ui.joinError.hidden = problem === undefined;
  ui.joinError.textContent = problem ?? "";
  if (problem === undefined) ui.joinInput.value = "";
});

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const checked = checkMessageText(ui.text.value);
  ui.sendError.hidden = checked.ok || ui.text.value.trim() === "";
  if (!checked.ok) {
    ui.sendError.textContent = sentence(checked.problem);
    return;
  }
  ui.text.value = "";
  fitComposer();
  send(checked.value);
});

ui.text.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
});
ui.text.addEventListener("input", fitComposer);

function fitComposer(): void {
  ui.text.style.height = "auto";
  ui.text.style.height = `${Math.min(ui.text.scrollHeight, 160)}px`;
}

ui.messages.addEventListener("click", (event) => {
  const id = (event.target as HTMLElement).closest<HTMLElement>("[data-dismiss]")?.dataset.dismiss;
  if (id === undefined) return;
  outgoing.remove(id);
  render(false);
});

ui.messages.addEventListener("scroll", () => {
  if (ui.messages.scrollTop < 80) void older.load(current);
});

ui.resync.addEventListener("click", () => resync(current));

setUpTips(ui.tips);

ui.rename.addEventListener("click", () => askName());

document.addEventListener("visibilitychange", () => scheduleRender());

ui.nameForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const checked = checkAuthor(ui.nameInput.value);
  ui.nameError.hidden = checked.ok;
  if (!checked.ok) {
    ui.nameError.textContent = sentence(checked.problem);
    return;
  }
  const first = name === "";
  name = checked.value;
  storage.setItem(NAME_KEY, name);
  ui.nameDialog.close();
  showName();
  if (first) void start();
  ui.text.focus();
});

// The first time, a name is required: Escape does not close the dialog.
ui.nameDialog.addEventListener("cancel", (event) => {
  if (name === "") event.preventDefault();
});

function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function askName(): void {
  ui.nameInput.value = name;
  ui.nameDialog.showModal();
}

// ——— start ———

if (name === "") {
  askName();
} else {
  showName();
  void start();
}
render(true);
