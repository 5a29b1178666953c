import { createServer } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { createAssuredServer } from "@assured/server";
import { Server } from "socket.io";
import { type Socket as ClientSocket, io as connectClient } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";

/**
 * A reconnect storm's handshakes and connects take turns of the event loop (G11): a thousand
 * clients reconnecting at once stalled the server 120–300 ms (bench: 1,000 × 1,000 storm, lag
 * max) before any of Assured's own work, in Engine.IO's handshakes and Socket.IO's namespace
 * connects. Here each handshake and each connect is made costly on purpose (3 ms of
 * synchronous work in `allowRequest` and in a `connection` listener), 40 clients connect at
 * once, and a turn counter (one `setImmediate` per turn) tells how many ran per turn: the
 * server's pacer lets about 10 ms of them run per turn, so never more than a few.
 */

const CLIENTS = 40;
const COST_MS = 3;
/** 10 ms slices of 3 ms items: 4 start in a slice, one more may share a turn with a new slice. */
const MOST_PER_TURN = 6;

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // synchronous work: an expensive check, as a real authorization might be
  }
}

interface Rig {
  io: Server;
  url: string;
  /** TCP connections the HTTP server has accepted. */
  accepted: { count: number };
  close(): Promise<void>;
}

const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

/**
 * A Socket.IO server whose every handshake and connect costs `COST_MS`, in `turns`; with
 * Assured attached (at once, or before the Socket.IO server is attached to its HTTP server), or
 * without (`"none"`: plain Socket.IO, the control).
 */
async function costlyServer(
  turns: { now: number },
  ran: { kind: "handshake" | "connect"; turn: number }[],
  assuredAt: "at once" | "before attaching" | "none" = "at once",
): Promise<Rig & { assured: ReturnType<typeof createAssuredServer> | undefined }> {
  const httpServer = createServer();
  const accepted = { count: 0 };
  httpServer.on("connection", () => accepted.count++);
  const options = {
    transports: ["websocket" as const],
    allowRequest: (_req: unknown, callback: (err: string | null, ok: boolean) => void) => {
      ran.push({ kind: "handshake", turn: turns.now });
      busy(COST_MS);
      callback(null, true);
    },
  };
  const io =
    assuredAt === "before attaching" ? new Server(options) : new Server(httpServer, options);
  const assured =
    assuredAt === "none"
      ? undefined
      : createAssuredServer(io, {
          store: new MemoryEventStore(),
          dedupStore: new MemoryDedupStore(),
        });
  if (assuredAt === "before attaching") io.attach(httpServer);
  io.on("connection", () => {
    ran.push({ kind: "connect", turn: turns.now });
    busy(COST_MS);
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  const close = async () => {
    io.disconnectSockets(true);
    await assured?.close();
    await new Promise<void>((resolve) => io.close(() => resolve()));
    httpServer.closeAllConnections();
  };
  open.push(close);
  return { io, url, accepted, assured, close };
}

/** Counts turns of the event loop until stopped. */
function turnCounter(): { now: number; stop(): void } {
  const counter = { now: 0, stopped: false, stop: () => {} };
  const tick = () => {
    counter.now++;
    if (!counter.stopped) setImmediate(tick);
  };
  setImmediate(tick);
  counter.stop = () => {
    counter.stopped = true;
  };
  return counter;
}

/** Connects `n` socket.io-client clients; resolves once all are connected. */
async function connectClients(url: string, n: number): Promise<ClientSocket[]> {
  const clients = Array.from({ length: n }, () =>
    connectClient(url, { transports: ["websocket"], reconnection: false, forceNew: true }),
  );
  open.push(async () => {
    for (const c of clients) c.disconnect();
  });
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          c.once("connect", () => resolve());
          c.once("connect_error", reject);
        }),
    ),
  );
  return clients;
}

/** Resolves once `done()` holds, checked after every turn (fails after 20 s). */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 20_000;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * A storm the way a thousand reconnecting browsers bring it: every TCP connection is open first,
 * then all WebSocket upgrade requests are written in one go, so they reach the server together
 * (it reads them in the same turn); once every client has its Engine.IO session, all Socket.IO
 * CONNECT packets are written in one go too. Raw sockets, so that the clients' own work (in this
 * process) does not spread the storm out.
 */
async function storm(
  { url, accepted }: Pick<Rig, "url" | "accepted">,
  n: number,
  ran: readonly { kind: "handshake" | "connect" }[],
  options: { resetOne?: boolean } = {},
): Promise<void> {
  const { port } = new URL(url);
  const acceptedBefore = accepted.count;
  const sockets = Array.from({ length: n }, () => connect(Number(port), "127.0.0.1"));
  open.push(async () => {
    for (const s of sockets) s.destroy();
  });
  const received = sockets.map(() => "");
  sockets.forEach((s, i) => {
    s.on("data", (chunk: Buffer) => {
      received[i] += chunk.toString("latin1");
    });
    s.on("error", () => {});
  });
  await Promise.all(sockets.map((s) => new Promise((resolve) => s.once("connect", resolve))));
  // The kernel completes a connection before the server accepts it (about one a turn): write
  // once the server holds them all, so that it reads every request in the same turn.
  await until(() => accepted.count - acceptedBefore >= n, "the server to accept every connection");
  const upgrade =
    `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  for (const s of sockets) s.write(upgrade);
  if (options.resetOne === true) {
    // A client gives up while its upgrade waits for its turn: its connection is reset (RST).
    const handshakesBefore = ran.filter((r) => r.kind === "handshake").length;
    await until(
      () => ran.filter((r) => r.kind === "handshake").length > handshakesBefore,
      "the first handshake",
    );
    const last = sockets.pop()!;
    received.pop();
    last.resetAndDestroy();
    n--;
  }
  // Each has its session once the Engine.IO open packet ("0{...") followed the 101.
  await until(() => received.every((r) => r.includes('0{"sid"')), "every Engine.IO session");
  // A Socket.IO CONNECT to "/" ("40"): a masked text frame, its mask all zeros.
  const connectFrame = Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x34, 0x30]);
  const connectsBefore = ran.filter((r) => r.kind === "connect").length;
  for (const s of sockets) s.write(connectFrame);
  await until(
    () => ran.filter((r) => r.kind === "connect").length >= connectsBefore + n,
    "every connect",
  );
}

/** The most handshakes, and the most connects, that ran in one turn of the event loop. */
function mostPerTurn(ran: readonly { kind: "handshake" | "connect"; turn: number }[]): {
  handshakes: number;
  connects: number;
} {
  const most = (kind: "handshake" | "connect") => {
    const perTurn = new Map<number, number>();
    for (const r of ran) if (r.kind === kind) perTurn.set(r.turn, (perTurn.get(r.turn) ?? 0) + 1);
    return Math.max(0, ...perTurn.values());
  };
  return { handshakes: most("handshake"), connects: most("connect") };
}

type Ran = { kind: "handshake" | "connect"; turn: number }[];

/** A costly server (`costlyServer`), the turns counted from now and what ran in them. */
async function stormRig(assuredAt?: "at once" | "before attaching" | "none") {
  const turns = turnCounter();
  const ran: Ran = [];
  const rig = await costlyServer(turns, ran, assuredAt);
  return { turns, ran, rig };
}

describe("connection pacing (G11: a reconnect storm does not stall the server)", () => {
  it("control: without Assured, the storm's handshakes and connects run many in one turn", async () => {
    // Shows that the storm below reaches the server together: what the other tests bound.
    const { turns, ran, rig } = await stormRig("none");
    await storm(rig, CLIENTS, ran);
    turns.stop();
    const most = mostPerTurn(ran);
    expect(most.handshakes).toBeGreaterThan(2 * MOST_PER_TURN);
    expect(most.connects).toBeGreaterThan(2 * MOST_PER_TURN);
  });

  it("spreads a storm's handshakes and connects over turns of the event loop; every client connects", async () => {
    const { turns, ran, rig } = await stormRig();
    await storm(rig, CLIENTS, ran);
    turns.stop();
    expect(ran.filter((r) => r.kind === "handshake")).toHaveLength(CLIENTS);
    expect(ran.filter((r) => r.kind === "connect")).toHaveLength(CLIENTS);
    const most = mostPerTurn(ran);
    expect(most.handshakes).toBeLessThanOrEqual(MOST_PER_TURN);
    expect(most.connects).toBeLessThanOrEqual(MOST_PER_TURN);
  });

  it("survives a client that resets its connection while its upgrade waits for a turn", async () => {
    // Node's HTTP server leaves an upgraded socket without an `error` listener until `ws` takes
    // it: a reset while the upgrade waited ended the process with ECONNRESET.
    const { turns, ran, rig } = await stormRig();
    await storm(rig, CLIENTS, ran, { resetOne: true });
    turns.stop();
    expect(ran.filter((r) => r.kind === "connect")).toHaveLength(CLIENTS - 1);
    expect(mostPerTurn(ran).handshakes).toBeLessThanOrEqual(MOST_PER_TURN);
  });

  it("paces a Socket.IO server attached to its HTTP server after Assured (from the first connection on)", async () => {
    const { turns, ran, rig } = await stormRig("before attaching");
    await connectClients(rig.url, 1); // the engine exists now; its first connection adds the handshake pacing
    ran.length = 0;
    await storm(rig, CLIENTS, ran);
    turns.stop();
    expect(ran).toHaveLength(2 * CLIENTS);
    const most = mostPerTurn(ran);
    expect(most.handshakes).toBeLessThanOrEqual(MOST_PER_TURN);
    expect(most.connects).toBeLessThanOrEqual(MOST_PER_TURN);
  });

  it("after close, lets handshakes through; the Assured servers still open on the Socket.IO server pace them", async () => {
    const { turns, ran, rig } = await stormRig();
    await rig.assured!.close();
    await connectClients(rig.url, 3); // nothing waits on the closed server's pacer
    const older = createAssuredServer(rig.io.of("/other"), {
      store: new MemoryEventStore(),
      dedupStore: new MemoryDedupStore(),
    });
    const newer = createAssuredServer(rig.io, {
      store: new MemoryEventStore(),
      dedupStore: new MemoryDedupStore(),
    });
    open.push(async () => void (await older.close()));
    await newer.close(); // the older one, still open, paces the handshakes
    ran.length = 0;
    await storm(rig, CLIENTS, ran);
    turns.stop();
    expect(ran.filter((r) => r.kind === "handshake")).toHaveLength(CLIENTS);
    expect(mostPerTurn(ran).handshakes).toBeLessThanOrEqual(MOST_PER_TURN);
  });

  it("adds no Engine.IO middleware when the server offers WebTransport (Engine.IO would close its sessions)", async () => {
    const middlewares = (transports: ("polling" | "websocket" | "webtransport")[]) => {
      const io = new Server(createServer(), { transports });
      const assured = createAssuredServer(io, {
        store: new MemoryEventStore(),
        dedupStore: new MemoryDedupStore(),
      });
      open.push(async () => {
        await assured.close();
        await new Promise<void>((resolve) => io.close(() => resolve()));
      });
      // Engine.IO turns WebTransport away whenever `middlewares` is not empty.
      return (io.engine as unknown as { middlewares: unknown[] }).middlewares.length;
    };
    expect(middlewares(["polling", "websocket", "webtransport"])).toBe(0);
    expect(middlewares(["polling", "websocket"])).toBe(1);
  });

  it("adds one middleware per namespace and Engine.IO server, however often Assured is attached again", async () => {
    const io = new Server(createServer());
    open.push(async () => void (await new Promise<void>((resolve) => io.close(() => resolve()))));
    for (let i = 0; i < 3; i++) {
      const assured = createAssuredServer(io, {
        store: new MemoryEventStore(),
        dedupStore: new MemoryDedupStore(),
      });
      await assured.close();
    }
    expect((io.of("/") as unknown as { _fns: unknown[] })._fns).toHaveLength(1);
    expect((io.engine as unknown as { middlewares: unknown[] }).middlewares).toHaveLength(1);
  });
});
