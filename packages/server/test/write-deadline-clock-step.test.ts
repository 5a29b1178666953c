import { encode, MemoryEventStore } from "@assured/core";
import { FRAMES } from "@assured/core/protocol";
import type { Socket as ServerSocket } from "socket.io";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_LIMITS } from "../src/index.js";
import { stateOf } from "../src/socket-state.js";
import { assuredAuth, type Peer, range, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await server?.close();
  server = undefined;
});

const KiB = 1024;
const HOUR = 3_600_000;

/** The client's socket stops reading: the server's writes pile up unwritten. */
function stopReading(peer: Peer): void {
  const transport = peer.socket.io.engine.transport as unknown as {
    ws: { _socket: { pause(): void } };
  };
  transport.ws._socket.pause();
}

async function eventually(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("the fetch write deadline under a wall-clock step", () => {
  it("G11: a connection holding unwritten fetch replies is not closed when the wall clock jumps an hour forward", async () => {
    const store = new MemoryEventStore();
    const payload = encode(new Uint8Array(100 * KiB));
    await store.append(
      "a",
      range(1, 4).map(() => ({ name: "e", payload })),
    );
    // A 4 s deadline: the watchdog checks it every second.
    server = await startAssured({
      store,
      limits: {
        maxBatchBytes: 256 * KiB,
        maxSocketReplayBytes: 512 * KiB,
        writeTimeoutMs: 4_000,
        tokensPerSecond: 1_000_000,
        burstTokens: 1_000_000,
      },
    });
    const started = server;
    const peer = await started.connect(assuredAuth());
    const clientId = (peer.socket.auth as ReturnType<typeof assuredAuth>).assured.clientId;
    const onServer = [...started.io.sockets.sockets.values()].find(
      (s) => s.handshake.auth.assured.clientId === clientId,
    ) as ServerSocket;
    let closed = false;
    onServer.once("disconnect", () => {
      closed = true;
    });
    stopReading(peer);
    const { epoch } = await started.store.head("a");
    const fetch = { stream: "a", epoch, after: 0, limit: 2 };
    // Far more than the kernel buffers take: the last replies stay unwritten, under a deadline.
    for (let n = 0; n < 250; n++) peer.socket.emit(FRAMES.fetch, fetch, () => undefined);
    const budget = () => stateOf(onServer, DEFAULT_LIMITS).replayBudget;
    await eventually(() => (budget()?.waiting ?? 0) > 0, "the socket's budget to be pinned");
    // Only `Date` is replaced (as libfaketime does to a node in the chaos run's clock-jump).
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() + HOUR);
    // Two watchdog periods, well inside the 4 s deadline (a negative condition: a bounded wait).
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect(closed).toBe(false);
    // The deadline itself still holds, on the monotonic clock.
    await eventually(() => closed, "the stalled socket to be closed at its deadline", 10_000);
  });
});
