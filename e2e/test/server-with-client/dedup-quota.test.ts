import { createAssuredClient } from "@assured/client";
import { decode, isAssuredError, MemoryDedupStore } from "@assured/core";
import type { MessageReply } from "@assured/core/protocol";
import { io as connectClient } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { assuredAuth, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
const servers: Started[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  for (const s of servers.splice(0)) await s.close();
});

/** The principal is the handshake's `user` (an `identify` hook, as an app with sessions has). */
const identify = (socket: { handshake: { auth: unknown } }) => {
  const user = (socket.handshake.auth as { user?: unknown }).user;
  if (typeof user !== "string") throw new Error("no session");
  return user;
};

const DAY_MS = 24 * 60 * 60 * 1000;

/** A server whose dedup store holds 5 entries in all, 3 per principal, on a manual clock. */
async function start() {
  let now = 1_000_000;
  const dedupStore = new MemoryDedupStore({ clock: () => now, maxEntries: 5 });
  const server = await startAssured({
    dedupStore,
    identify,
    limits: { maxDedupEntriesPerPrincipal: 3, dedupTtlMs: DAY_MS },
  });
  servers.push(server);
  const runs: string[] = [];
  server.assured.on("note", async (text: string, ctx) => {
    runs.push(`${ctx.principal}:${text}`);
    return text.toUpperCase();
  });
  return { server, runs, advance: (ms: number) => (now += ms) };
}

const payloadOf = (reply: MessageReply) => decode((reply as { payload: Uint8Array }).payload);

describe("dedup entries per principal (DESIGN.md §8)", () => {
  it("a principal sending unique ids gets QUOTA_EXCEEDED at its quota; another principal's messages still run", async () => {
    const { server, runs, advance } = await start();
    const alice = await server.connect({ ...assuredAuth(), user: "alice" });
    const bob = await server.connect({ ...assuredAuth(), user: "bob" });

    const aliceReplies: MessageReply[] = [];
    for (let seq = 1; seq <= 6; seq++) {
      aliceReplies.push(await alice.send("note", `a${seq}`, `alice-${seq}`, seq));
    }
    expect(aliceReplies.slice(0, 3).map(payloadOf)).toEqual(["A1", "A2", "A3"]);
    for (const reply of aliceReplies.slice(3)) {
      expect(reply).toMatchObject({
        ok: false,
        error: {
          code: "QUOTA_EXCEEDED",
          details: { maxEntries: 3, dedupTtlMs: DAY_MS },
        },
      });
      // Final, not a send-order refusal: later messages of the socket are each answered.
      expect((reply as { error: { details: object } }).error.details).not.toHaveProperty(
        "waitingForSeq",
      );
      expect((reply as { error: { message: string } }).error.message).toMatch(
        /maxDedupEntriesPerPrincipal.*will not be retried.*new message/s,
      );
    }
    // The global store bound (5) is not reached by one principal: bob's messages run.
    expect(payloadOf(await bob.send("note", "b1", "bob-1", 1))).toBe("B1");
    expect(payloadOf(await bob.send("note", "b2", "bob-2", 2))).toBe("B2");
    // A duplicate of alice's handled message is still answered from the store, not refused.
    expect(payloadOf(await alice.send("note", "a1", "alice-1", 7))).toBe("A1");
    expect(runs).toEqual(["alice:a1", "alice:a2", "alice:a3", "bob:b1", "bob:b2"]);

    // Once alice's entries leave the dedup window, her quota is free again.
    advance(DAY_MS);
    expect(payloadOf(await alice.send("note", "a8", "alice-8", 8))).toBe("A8");
  });

  it("with @assured/client: the refused message rejects with QUOTA_EXCEEDED and later messages are not held back", async () => {
    const { server, runs } = await start();
    const socket = connectClient(server.url, {
      autoConnect: false,
      transports: ["websocket"],
      forceNew: true,
      auth: { user: "carol" },
    });
    const client = createAssuredClient(socket);
    cleanups.push(() => client.close());
    cleanups.push(() => void socket.disconnect());
    await client.connect();
    const sent = await Promise.allSettled(
      ["c1", "c2", "c3", "c4", "c5"].map((text) => client.emit("note", text)),
    );
    expect(sent.slice(0, 3)).toEqual(
      ["C1", "C2", "C3"].map((value) => ({ status: "fulfilled", value })),
    );
    for (const refused of sent.slice(3)) {
      expect(refused.status).toBe("rejected");
      const reason = (refused as PromiseRejectedResult).reason;
      expect(isAssuredError(reason, "QUOTA_EXCEEDED"), String(reason)).toBe(true);
    }
    expect(client.pending()).toEqual([]);
    expect(runs).toEqual(["carol:c1", "carol:c2", "carol:c3"]);
  });

  it("refuses a limit that is not a positive integer", async () => {
    await expect(
      startAssured({ limits: { maxDedupEntriesPerPrincipal: 0 } }),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
