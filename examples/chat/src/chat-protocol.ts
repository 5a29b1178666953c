/**
 * What the chat's server and page agree on: room names, message shapes and their limits. Pure
 * (no imports), so the page bundle and the server share one set of rules.
 */

/** Rooms every page lists; more are joined by name. */
export const FIXED_ROOMS = ["general", "random", "help"] as const;

/** Longest message text, in characters. */
export const MAX_TEXT_LENGTH = 2000;

/** Longest display name, in characters. */
export const MAX_AUTHOR_LENGTH = 40;

/** Longest room name. */
export const MAX_ROOM_LENGTH = 32;

const ROOM_NAME = /^[a-z0-9][a-z0-9-]*$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What a page sends with `client.emit("chat:send", …)`. */
export interface ChatSend {
  room: string;
  author: string;
  text: string;
}

/** What the server publishes to a room's stream as `chat:message`. */
export interface ChatMessage {
  author: string;
  text: string;
  /** `"page"` for messages sent from a chat page, `"api"` for the HTTP publish route. */
  via: "page" | "api";
}

/** The `chat:send` handler's stored result. */
export interface SendResult {
  offset: number;
}

/** Client message signatures, for `createAssuredServer<ChatMessages, ChatEvents>`. */
export type ChatMessages = { "chat:send": (data: ChatSend) => SendResult };

/** Published event signatures. */
export type ChatEvents = { "chat:message": (data: ChatMessage) => void };

/** A validation result: the cleaned value, or what is wrong with the input. */
export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

/**
 * The event id a page message is published under: the sender's client id and message id, so a
 * handler that runs again after a crash publishes nothing new, and no client can take over
 * another's ids. The page uses it to match its pending messages with the published ones.
 */
export function pageEventId(clientId: string, messageId: string): string {
  return `${clientId}:${messageId}`;
}

/** The event id of a message posted to the HTTP route with an idempotency id. */
export function apiEventId(requestId: string): string {
  return `api:${requestId}`;
}

/** The stream of a room. */
export function roomStream(room: string): string {
  return `room:${room}`;
}

/** The room of a stream made by `roomStream`, or `null` for any other stream. */
export function roomOfStream(stream: string): string | null {
  return stream.startsWith("room:") ? stream.slice("room:".length) : null;
}

/**
 * Turns what a person typed ("#Book Club") into a room name ("book-club"): lower case, spaces
 * to dashes, 1–32 of `a-z`, `0-9` and `-`, starting with a letter or digit.
 */
export function checkRoomName(input: unknown): Checked<string> {
  if (typeof input !== "string") return { ok: false, problem: "a room name must be text." };
  const room = input.trim().replace(/^#/, "").trim().toLowerCase().replace(/\s+/g, "-");
  if (room.length === 0) return { ok: false, problem: "a room name cannot be empty." };
  if (room.length > MAX_ROOM_LENGTH) {
    return { ok: false, problem: `a room name has at most ${MAX_ROOM_LENGTH} characters.` };
  }
  if (!ROOM_NAME.test(room)) {
    return { ok: false, problem: "a room name uses letters, digits and dashes only." };
  }
  return { ok: true, value: room };
}

function checkText(value: unknown, what: string, max: number): Checked<string> {
  if (typeof value !== "string") return { ok: false, problem: `${what} must be text.` };
  const text = value.trim();
  if (text.length === 0) return { ok: false, problem: `${what} cannot be empty.` };
  if ([...text].length > max) {
    return { ok: false, problem: `${what} has at most ${max} characters.` };
  }
  if (LONE_SURROGATE.test(text)) return { ok: false, problem: `${what} is not valid Unicode.` };
  return { ok: true, value: text };
}

/** Checks a display name: 1–40 characters once trimmed. */
export function checkAuthor(value: unknown): Checked<string> {
  return checkText(value, "a name", MAX_AUTHOR_LENGTH);
}

/** Checks message text: 1–2000 characters once trimmed. */
export function checkMessageText(value: unknown): Checked<string> {
  return checkText(value, "a message", MAX_TEXT_LENGTH);
}

/** Checks a whole `chat:send` payload (any value a client may have sent). */
export function checkChatSend(value: unknown): Checked<ChatSend> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, problem: "chat:send takes { room, author, text }." };
  }
  const data = value as Record<string, unknown>;
  const room = checkRoomName(data.room);
  if (!room.ok) return room;
  const author = checkAuthor(data.author);
  if (!author.ok) return author;
  const text = checkMessageText(data.text);
  if (!text.ok) return text;
  return { ok: true, value: { room: room.value, author: author.value, text: text.value } };
}
