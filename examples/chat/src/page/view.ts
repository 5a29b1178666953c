import type { OutgoingMessage } from "./outgoing.js";
import type { ShownMessage } from "./room-history.js";

/** One line of the message list. */
export type MessageItem =
  | { kind: "delivered"; message: ShownMessage; mine: boolean }
  | { kind: "outgoing"; message: OutgoingMessage };

/** A room in the sidebar. */
export interface RoomItem {
  name: string;
  unread: number;
  current: boolean;
  /** Its history could not be recovered (a banner explains). */
  warning: boolean;
}

/** Finds an element the page is built with. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/** A stable colour for a name. */
export function colorOf(name: string): string {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0;
  return `hsl(${hash % 360} 62% 46%)`;
}

/** Fills an avatar circle with a name's initial and colour. */
export function paintAvatar(element: HTMLElement, name: string): void {
  element.textContent = [...name][0]?.toUpperCase() ?? "?";
  element.style.background = colorOf(name);
}

/** Redraws the room list. */
export function renderRooms(list: HTMLElement, rooms: readonly RoomItem[]): void {
  list.replaceChildren(
    ...rooms.map((room) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "room-link";
      button.dataset.room = room.name;
      if (room.current) button.setAttribute("aria-current", "true");
      const label = document.createElement("span");
      label.textContent = `# ${room.name}`;
      button.append(label);
      if (room.warning) button.append(badge("!", "badge warning", "history not recovered"));
      else if (room.unread > 0 && !room.current) {
        button.append(badge(room.unread > 99 ? "99+" : String(room.unread), "badge", "unread"));
      }
      item.append(button);
      return item;
    }),
  );
}

function badge(text: string, className: string, title: string): HTMLElement {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  span.title = title;
  return span;
}

/** Redraws the message list (its own scroller), keeping it pinned to the bottom if it was there. */
export function renderMessages(list: HTMLElement, items: readonly MessageItem[]): void {
  const pinned = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  let previous: { author: string; time: number } | undefined;
  list.replaceChildren(
    ...items.map((item) => {
      const author = item.message.author;
      const time = item.kind === "delivered" ? item.message.time : item.message.createdAt;
      const continued =
        previous !== undefined && previous.author === author && time - previous.time < 5 * 60_000;
      previous = { author, time };
      return messageElement(item, continued);
    }),
  );
  if (pinned) list.scrollTop = list.scrollHeight;
}

function messageElement(item: MessageItem, continued: boolean): HTMLElement {
  const li = document.createElement("li");
  const { message } = item;
  li.className = "message";
  li.dataset.id = message.id;
  if (continued) li.classList.add("continued");
  if (item.kind === "delivered") {
    li.dataset.state = "delivered";
    li.dataset.offset = String(item.message.offset);
    if (item.mine) li.classList.add("mine");
  } else {
    li.dataset.state = item.message.state;
    li.classList.add("mine", item.message.state);
  }

  const avatar = document.createElement("span");
  avatar.className = "avatar";
  paintAvatar(avatar, message.author);

  const body = document.createElement("div");
  body.className = "body";
  const meta = document.createElement("div");
  meta.className = "meta";
  const author = document.createElement("span");
  author.className = "author";
  author.textContent = message.author;
  author.style.color = colorOf(message.author);
  const when = document.createElement("time");
  const time = item.kind === "delivered" ? item.message.time : item.message.createdAt;
  when.dateTime = new Date(time).toISOString();
  when.textContent = timeFormat.format(time);
  meta.append(author, when);
  if (item.kind === "outgoing") meta.append(stateLabel(item.message));

  const text = document.createElement("p");
  text.className = "text";
  text.textContent = message.text;
  body.append(meta, text);
  li.append(avatar, body);
  return li;
}

function stateLabel(message: OutgoingMessage): HTMLElement {
  const label = document.createElement("span");
  label.className = "state";
  if (message.state === "pending") label.textContent = "sending…";
  else if (message.state === "sent") label.textContent = "sent";
  else {
    label.textContent = `not sent: ${message.error ?? "refused"}`;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "link dismiss";
    dismiss.dataset.dismiss = message.id;
    dismiss.textContent = "dismiss";
    label.append(" ", dismiss);
  }
  return label;
}
