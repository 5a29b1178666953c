import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Grant, ServerBudget, SocketBudget } from "../src/byte-budget.js";

/** Lets granted promises' callbacks run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

const SOCKETS = 3;
type Op =
  | { type: "acquire"; socket: number; bytes: number; abortable: boolean }
  | { type: "tryAcquire"; socket: number; bytes: number }
  | { type: "release"; pick: number }
  | { type: "shrink"; pick: number; to: number }
  | { type: "abort"; pick: number }
  | { type: "close"; socket: number };

const socketIndex = fc.nat({ max: SOCKETS - 1 });
const bytes = fc.integer({ min: 0, max: 700 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant("acquire" as const),
      socket: socketIndex,
      bytes,
      abortable: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant("tryAcquire" as const), socket: socketIndex, bytes }),
  },
  { weight: 4, arbitrary: fc.record({ type: fc.constant("release" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant("shrink" as const), pick: fc.nat(), to: bytes }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("abort" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("close" as const), socket: socketIndex }) },
);

interface Request {
  socket: number;
  seq: number;
  bytes: number;
  state: "waiting" | "granted" | "released" | "refused";
  grant?: Grant;
  controller?: AbortController;
}

describe("byte budgets: model-based (G11)", () => {
  it("never grant more than either budget, keep each socket's order, and serve every waiter once bytes come back", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 100, max: 1_500 }),
        fc.array(fc.integer({ min: 50, max: 1_000 }), { minLength: SOCKETS, maxLength: SOCKETS }),
        fc.array(op, { maxLength: 40 }),
        async (serverCapacity, socketCapacities, ops) => {
          const server = new ServerBudget(serverCapacity);
          const sockets = socketCapacities.map((c) => new SocketBudget(server, c));
          const closed = new Set<number>();
          const requests: Request[] = [];
          const grantOrder: Request[][] = sockets.map(() => []);
          let seq = 0;

          const live = () => requests.filter((r) => r.state === "granted");
          const check = () => {
            expect(server.used).toBeLessThanOrEqual(server.capacity);
            const held = live().reduce((sum, r) => sum + r.grant!.bytes, 0);
            expect(server.used).toBe(held);
            sockets.forEach((socket, i) => {
              expect(socket.used).toBeLessThanOrEqual(socket.capacity);
              const mine = live().filter((r) => r.socket === i);
              expect(socket.used).toBeGreaterThanOrEqual(
                mine.reduce((s, r) => s + r.grant!.bytes, 0),
              );
              // First come, first served within a socket.
              const order = grantOrder[i]!.map((r) => r.seq);
              expect(order).toEqual([...order].sort((a, b) => a - b));
            });
          };

          for (const step of ops) {
            if (step.type === "acquire") {
              const request: Request = {
                socket: step.socket,
                seq: seq++,
                bytes: step.bytes,
                state: "waiting",
              };
              if (step.abortable) request.controller = new AbortController();
              requests.push(request);
              sockets[step.socket]!.acquire(step.bytes, request.controller?.signal).then(
                (grant) => {
                  request.state = "granted";
                  request.grant = grant;
                  grantOrder[step.socket]!.push(request);
                },
                () => {
                  request.state = "refused";
                },
              );
            } else if (step.type === "tryAcquire") {
              const grant = sockets[step.socket]!.tryAcquire(step.bytes);
              if (grant !== undefined) {
                // Only when nobody of this socket waits: it keeps the order too.
                expect(
                  requests.some((r) => r.socket === step.socket && r.state === "waiting"),
                ).toBe(false);
                const request: Request = {
                  socket: step.socket,
                  seq: seq++,
                  bytes: step.bytes,
                  state: "granted",
                  grant,
                };
                requests.push(request);
                grantOrder[step.socket]!.push(request);
              }
            } else if (step.type === "release" || step.type === "shrink") {
              const held = live();
              const request = held[step.pick % Math.max(1, held.length)];
              if (request === undefined) continue;
              if (step.type === "shrink") request.grant!.shrink(step.to);
              else {
                request.grant!.release();
                request.state = "released";
              }
            } else if (step.type === "abort") {
              const waiting = requests.filter((r) => r.state === "waiting" && r.controller);
              waiting[step.pick % Math.max(1, waiting.length)]?.controller?.abort();
            } else {
              sockets[step.socket]!.close();
              closed.add(step.socket);
              for (const r of requests) {
                // Grants of a closed socket are void: its bytes went back at once.
                if (r.socket === step.socket && r.state === "granted") r.state = "released";
              }
            }
            await flush();
            check();
          }

          // Liveness: once every grant comes back, every waiter of an open socket is served.
          for (let round = 0; round < requests.length + 1; round++) {
            for (const r of live()) {
              r.grant!.release();
              r.state = "released";
            }
            await flush();
            if (!requests.some((r) => r.state === "waiting")) break;
          }
          expect(requests.filter((r) => r.state === "waiting")).toEqual([]);
          for (const r of live()) r.grant!.release();
          for (const r of requests) {
            if (r.state === "refused")
              expect(closed.has(r.socket) || r.controller?.signal.aborted).toBe(true);
          }
          expect(server.used).toBe(0);
          expect(server.waiting).toBe(0);
          for (const socket of sockets) expect(socket.used).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
