import { describe, expect, it } from "vitest";
import { encodeMessage, encodeResult } from "../src/outbox-storage.js";
import { encodeBase64 } from "../src/wire-base64.js";

// The stored forms are written out as text for speed: they must stay exactly what
// JSON.stringify gives, so every reader (older versions included) parses them alike.
const TEXTS = ["V1StGXR8_Z5jdHi6B-myT", 'a"b', "é", "a b", "x/y", "\u2028", "k:1.2-3", "\\"];
const NUMBERS = [0, 7, 1764450000123, -0, 1e21];
const payload = new Uint8Array([0, 255, 10, 34, 92, 200]);

describe("outbox stored forms", () => {
  it("a message's is the JSON.stringify text of its fields", () => {
    for (const id of TEXTS) {
      for (const n of NUMBERS) {
        const message = { id, seq: n, name: id, payload, createdAt: n };
        const fields = { id, seq: n, name: id, payload: encodeBase64(payload), createdAt: n };
        expect(encodeMessage(message, id)).toBe(JSON.stringify({ ...fields, session: id }));
      }
    }
  });

  it("a result's with a payload is the JSON.stringify text of its fields", () => {
    for (const id of TEXTS) {
      for (const n of NUMBERS) {
        const base = { id, seq: n, name: id, finishedAt: n };
        const wire = encodeBase64(payload);
        expect(encodeResult({ ...base, ok: true, payload }, 1e9).value).toBe(
          JSON.stringify({ ...base, ok: true, payload: wire }),
        );
        expect(encodeResult({ ...base, ok: false, stored: true, payload }, 1e9).value).toBe(
          JSON.stringify({ ...base, ok: false, stored: true, payload: wire }),
        );
      }
    }
  });
});
