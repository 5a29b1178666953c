import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AssuredError, isAssuredError } from "@assured/core";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_TEXT_LENGTH } from "../src/chat-protocol.js";
import { type ChatServer, startChatServer } from "../src/chat-server.js";
import { NodeChatClient } from "./node-chat-client.js";

describe("bad input to the chat server", () => {
  let dir: string;
  let dbPath: string;
  let chat: ChatServer | undefined;
  let client: NodeChatClient | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "assured-chat-input-"));
    dbPath = join(dir, "chat.sqlite");
    chat = await startChatServer({ dbPath, port: 0 });
    client = new NodeChatClient(chat.url, "general");
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await chat?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("G12: malformed chat:send messages are refused with INVALID_ARGUMENT and publish nothing", async () => {
    const refused = async (data: unknown): Promise<AssuredError> => {
      const error = await client!.client.emit("chat:send", data).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (!isAssuredError(error)) throw new Error(`expected a refusal, got ${String(error)}`);
      return error;
    };
    const cases: unknown[] = [
      "just a string",
      null,
      [1, 2],
      { room: "general", author: "x" },
      { room: "general", author: "x", text: "   " },
      { room: "general", author: "x", text: "y".repeat(MAX_TEXT_LENGTH + 1) },
      { room: "general", author: "x", text: "\uD800 lone surrogate" },
      { room: "Bad Room!", author: "x", text: "hi" },
      { room: "general", author: "", text: "hi" },
      { room: "general", author: 42, text: "hi" },
    ];
    for (const data of cases) {
      const error = await refused(data);
      expect(error.code).toBe("HANDLER_ERROR");
      expect(error.details?.error).toMatchObject({ code: "INVALID_ARGUMENT" });
    }
    const unknown = await client!.client.emit("chat:nope", {}).catch((e: unknown) => e);
    expect((unknown as AssuredError).code).toBe("UNKNOWN_EVENT");
  });

  it("G12: malformed HTTP posts get 4xx with a typed error and publish nothing", async () => {
    const url = `${chat!.url}/api/rooms/general/messages`;
    const send = (body: string, target = url, method = "POST") =>
      fetch(target, { method, headers: { "content-type": "application/json" }, body });
    const expectError = async (response: Response, status: number, code: string) => {
      expect(response.status).toBe(status);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    };
    await expectError(await send("{not json"), 400, "INVALID_ARGUMENT");
    await expectError(await send("[]"), 400, "INVALID_ARGUMENT");
    await expectError(await send("{}"), 400, "INVALID_ARGUMENT");
    await expectError(await send('{"text":"hi","id":""}'), 400, "INVALID_ARGUMENT");
    await expectError(await send('{"text":"hi","author":"   "}'), 400, "INVALID_ARGUMENT");
    await expectError(
      await send('{"text":"hi"}', `${chat!.url}/api/rooms/No%20Way!/messages`),
      400,
      "INVALID_ARGUMENT",
    );
    await expectError(
      await send(JSON.stringify({ text: "x".repeat(20_000) })),
      413,
      "PAYLOAD_TOO_LARGE",
    );
    expect((await fetch(url)).status).toBe(405);
    expect((await fetch(`${chat!.url}/nothing-here`)).status).toBe(404);
  });

  it("G12: after all that the server still serves, and the file holds only the good message", async () => {
    const { offset } = await client!.send("general", "still here", "good-1");
    expect(offset).toBe(1);
    await client!.delivered(1);
    expect(client!.deliveries.map((d) => d.text)).toEqual(["still here"]);
    await client!.close();
    client = undefined;
    await chat!.close();
    chat = undefined;
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.prepare("SELECT count(*) FROM assured_events").pluck().get()).toBe(1);
    } finally {
      db.close();
    }
  });
});
