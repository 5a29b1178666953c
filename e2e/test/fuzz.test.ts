/**
 * G11/G12 under fuzz (short profile; `pnpm fuzz` runs the long one for minutes). The server
 * runs in a child process (`src/fuzz/fuzz-server.ts`) so a crash or an out-of-memory death is
 * seen as one, and its RSS and event-loop lag are its own. The seed is fixed (FUZZ_SEED
 * overrides it) and printed with the report, so a failure can be replayed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { io, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ackedRequest, fillEpochs } from "../src/fuzz/arbitraries.js";
import { runFuzz } from "../src/fuzz/driver.js";
import { checkReply, Findings } from "../src/fuzz/oracle.js";
import { formatReport } from "../src/fuzz/report.js";
import { GOOD_STREAM, type StreamHead } from "../src/fuzz/rules.js";
import { FuzzServerProcess } from "../src/fuzz/server-process.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20_250_611);
/** How long the hostile drivers of the short profile run. */
const FUZZ_MS = Number(process.env.FUZZ_SHORT_MS ?? 20_000);
/** The server process's RSS must stay below this (it starts near 90 MB). */
const RSS_BOUND_MB = 400;

describe("fuzz, short profile", () => {
  describe("one request at a time (fast-check property, shrinks a failing frame)", () => {
    let server: FuzzServerProcess;
    let heads: Record<string, StreamHead>;
    let socket: Socket | undefined;
    const findings = new Findings();

    const connected = async (): Promise<Socket> => {
      if (socket?.connected) return socket;
      socket?.disconnect();
      socket = io(server.url, {
        transports: ["websocket"],
        forceNew: true,
        reconnection: false,
        auth: { token: "alice", assured: { v: 2, clientId: "fuzz-property", subscriptions: [] } },
      });
      const current = socket;
      await new Promise<void>((resolve, reject) => {
        current.once("connect", () => resolve());
        current.once("connect_error", reject);
      });
      return current;
    };

    beforeAll(async () => {
      server = await FuzzServerProcess.start({
        store: "memory",
        publishIntervalMs: 50,
        statsIntervalMs: 250,
        maxPayloadBytes: 64 * 1024,
        connectionStateRecovery: true,
        maxOldSpaceMb: 1024,
      });
      heads = await server.heads();
    }, 60_000);

    afterAll(async () => {
      socket?.disconnect();
      await server?.stop();
    });

    it("G12: every fetch, heads and msg frame gets a typed answer in its ack, never another principal's data", async () => {
      console.info(`fuzz property: FUZZ_SEED=${SEED}`);
      const epochOf = (stream: unknown) =>
        (typeof stream === "string" ? heads[stream]?.epoch : undefined) ??
        heads[GOOD_STREAM]!.epoch;
      await fc.assert(
        fc.asyncProperty(ackedRequest, async ({ event, frame }) => {
          const peer = await connected();
          const filled = fillEpochs(frame, epochOf);
          if (event === "assured:msg") {
            findings.noteSentId("alice", (filled as { id?: unknown } | null)?.id);
          }
          const before = findings.samples.length;
          let reply: unknown;
          try {
            reply = await peer.timeout(10_000).emitWithAck(event, filled);
          } catch (error) {
            // A frame socket.io-client cannot serialize, or the connection dropped: not an answer.
            if (peer.connected && /timed out/.test(String(error))) {
              throw new Error(`${event} got no ack within 10 s`);
            }
            return;
          }
          checkReply(findings, "property", "alice", event, filled, reply);
          const found = findings.samples.slice(before);
          if (found.length > 0) {
            throw new Error(found.map((f) => `[${f.kind}] ${f.detail}`).join("\n"));
          }
        }),
        { seed: SEED, numRuns: 300 },
      );
      expect(server.crash).toBeUndefined();
      expect(server.roomLeaks).toEqual([]);
    }, 60_000);
  });

  it(`G11/G12: ${FUZZ_MS / 1000} s of hostile clients (every frame type, raw engine.io frames, hostile handshakes, MessagePack bombs): no crash, no leak, bounded memory, the well-behaved client served`, async () => {
    console.info(`fuzz soak: FUZZ_SEED=${SEED}`);
    const report = await runFuzz({
      seed: SEED,
      durationMs: FUZZ_MS,
      socketIoPeers: 4,
      rawPeers: 2,
      httpProbes: 1,
      store: "memory",
      publishIntervalMs: 50,
      maxOldSpaceMb: 1024,
    });
    const text = formatReport(report);
    console.info(text);
    // Give the reporter a moment to flush the report before an assertion fails.
    await sleep(10);
    expect(report.crashes, text).toBe(0);
    expect(report.leaks, text).toBe(0);
    expect(report.rssMb.peak, text).toBeLessThan(RSS_BOUND_MB);
    expect(report.good.served, text).toBe(true);
    expect(report.findings, text).toEqual({
      leak: 0,
      "internal-error": 0,
      "untyped-error": 0,
      unanswered: 0,
      "bad-reply": 0,
      "good-client": 0,
      crash: 0,
      stall: 0,
      "publish-error": 0,
    });
    expect(report.frames.total).toBeGreaterThan(1_000);
  }, 90_000);
});
