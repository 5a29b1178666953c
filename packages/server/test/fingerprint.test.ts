import { encode } from "@assured/core";
import { messageFingerprint } from "@assured/core/protocol";
import { describe, expect, it } from "vitest";
import { messageFingerprintSync } from "../src/fingerprint.js";

describe("message fingerprint", () => {
  it("G9: the server's synchronous fingerprint equals core's messageFingerprint (stores and nodes agree)", async () => {
    const cases: [string, Uint8Array][] = [
      ["chat:send", encode({ text: "hi" })],
      ["", new Uint8Array()],
      ["ab", new Uint8Array([0x63])],
      ["abc", new Uint8Array()],
      ["名前🙂", encode(new Uint8Array([0, 255, 1]))],
      ["x", new Uint8Array(100_000).fill(7)],
    ];
    for (const [name, payload] of cases) {
      expect(messageFingerprintSync(name, payload)).toBe(await messageFingerprint(name, payload));
    }
    expect(messageFingerprintSync("ab", new Uint8Array([0x63]))).not.toBe(
      messageFingerprintSync("abc", new Uint8Array()),
    );
  });
});
