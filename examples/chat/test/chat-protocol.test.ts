import { describe, expect, it } from "vitest";
import { checkChatSend, checkRoomName, roomOfStream, roomStream } from "../src/chat-protocol.js";

describe("chat rules shared by the server and the page", () => {
  it("room names are normalized from what a person types", () => {
    expect(checkRoomName("#Book Club")).toEqual({ ok: true, value: "book-club" });
    expect(checkRoomName("  general ")).toEqual({ ok: true, value: "general" });
    for (const bad of ["", "#", "-dash-first", "a/b", "x".repeat(33), "room:1", 7]) {
      expect(checkRoomName(bad).ok).toBe(false);
    }
  });

  it("rooms map to streams and back; other streams are not rooms", () => {
    expect(roomStream("general")).toBe("room:general");
    expect(roomOfStream("room:general")).toBe("general");
    expect(roomOfStream("user:42")).toBeNull();
  });

  it("chat:send payloads are trimmed and checked field by field", () => {
    expect(checkChatSend({ room: "General", author: " Ann ", text: " hi \n" })).toEqual({
      ok: true,
      value: { room: "general", author: "Ann", text: "hi" },
    });
    expect(checkChatSend({ room: "general", author: "Ann", text: "😀".repeat(2000) }).ok).toBe(
      true,
    );
    expect(checkChatSend({ room: "general", author: "Ann", text: "😀".repeat(2001) }).ok).toBe(
      false,
    );
  });
});
