import type { IncomingMessage, ServerResponse } from "node:http";
import { AssuredError, isAssuredError } from "@assured/core";
import { apiEventId, checkAuthor, checkMessageText, checkRoomName } from "./chat-protocol.js";

/** Publishes a checked message to a room; resolves with its offset. */
export type PublishToRoom = (
  room: string,
  message: { author: string; text: string },
  eventId: string | undefined,
) => Promise<{ offset: number; duplicate: boolean }>;

/** Largest request body the route reads. */
const MAX_BODY_BYTES = 16 * 1024;

/** The path of the route: `POST /api/rooms/<room>/messages`. */
export const PUBLISH_ROUTE = /^\/api\/rooms\/([^/]+)\/messages$/;

/**
 * `POST /api/rooms/<room>/messages` with JSON `{ text, author?, id? }`: a script or a bot posts
 * to a room. With an `id` the post is idempotent (the same id twice publishes once, answering
 * the first offset), so a client that lost the answer can safely post again.
 *
 * @example curl -d '{"text":"deploy finished","id":"deploy-42"}' localhost:3000/api/rooms/general/messages
 */
export async function handlePublishRoute(
  request: IncomingMessage,
  response: ServerResponse,
  encodedRoom: string,
  publish: PublishToRoom,
): Promise<void> {
  try {
    const room = checkRoomName(decodeURIComponent(encodedRoom));
    if (!room.ok) throw new AssuredError("INVALID_ARGUMENT", room.problem);
    const body = parseBody(await readBody(request));
    const author = checkAuthor(body.author ?? "api");
    if (!author.ok) throw new AssuredError("INVALID_ARGUMENT", author.problem);
    const text = checkMessageText(body.text);
    if (!text.ok) throw new AssuredError("INVALID_ARGUMENT", text.problem);
    if (body.id !== undefined && (typeof body.id !== "string" || body.id.length === 0)) {
      throw new AssuredError("INVALID_ARGUMENT", "id must be a non-empty string.");
    }
    const eventId = body.id === undefined ? undefined : apiEventId(body.id);
    const result = await publish(room.value, { author: author.value, text: text.value }, eventId);
    sendJson(response, 200, result);
  } catch (error) {
    const e = isAssuredError(error)
      ? error
      : new AssuredError("INTERNAL", error instanceof Error ? error.message : String(error));
    sendJson(response, statusOf(e), { error: { code: e.code, message: e.message } });
  }
}

function statusOf(error: AssuredError): number {
  switch (error.code) {
    case "INVALID_ARGUMENT":
    case "INVALID_STREAM":
      return 400;
    case "PAYLOAD_TOO_LARGE":
      return 413;
    case "STORE_UNAVAILABLE":
    case "LIMIT_EXCEEDED":
    case "CLOSED":
      return 503;
    default:
      return 500;
  }
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      // Past the limit, keep draining (so the 413 reaches the client) but keep nothing.
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on("end", () => {
      if (size > MAX_BODY_BYTES) {
        reject(new AssuredError("PAYLOAD_TOO_LARGE", `the body is over ${MAX_BODY_BYTES} bytes.`));
      } else {
        resolve(Buffer.concat(chunks).toString("utf8"));
      }
    });
    request.on("error", reject);
  });
}

function parseBody(text: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new AssuredError("INVALID_ARGUMENT", 'the body must be JSON: { "text": "…" }.');
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new AssuredError("INVALID_ARGUMENT", 'the body must be a JSON object: { "text": "…" }.');
  }
  return body as Record<string, unknown>;
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  if (response.headersSent) return;
  response.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  response.end(JSON.stringify(value));
}
