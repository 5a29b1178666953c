import { describe, expect, it } from "vitest";
import { type Grant, ServerBudget, SocketBudget } from "../src/byte-budget.js";

/** Lets pending promise callbacks run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Acquires and records when (in which order) each grant arrived. */
function tracker() {
  const order: string[] = [];
  const grants = new Map<string, Grant>();
  const errors = new Map<string, unknown>();
  const take = (name: string, budget: SocketBudget, bytes: number, signal?: AbortSignal) => {
    budget.acquire(bytes, signal).then(
      (grant) => {
        order.push(name);
        grants.set(name, grant);
      },
      (error: unknown) => errors.set(name, error),
    );
  };
  return { order, grants, errors, take };
}

describe("byte budgets (G11)", () => {
  it("a socket's requests are served first come first served, within its budget and the server's", async () => {
    const server = new ServerBudget(1_000);
    const socket = new SocketBudget(server, 600);
    const t = tracker();
    t.take("a", socket, 400);
    t.take("b", socket, 400); // waits: 800 > 600
    t.take("c", socket, 100); // fits, but waits behind b (no overtaking)
    await settle();
    expect(t.order).toEqual(["a"]);
    expect(socket.used).toBe(400);
    expect(socket.waiting).toBe(2);
    t.grants.get("a")!.release();
    await settle();
    expect(t.order).toEqual(["a", "b", "c"]);
    expect(socket.used).toBe(500);
    expect(server.used).toBe(500);
    t.grants.get("b")!.release();
    t.grants.get("b")!.release(); // twice is once
    expect(server.used).toBe(100);
  });

  it("the server budget is shared FIFO across sockets, with one waiting request per socket", async () => {
    const server = new ServerBudget(1_000);
    const one = new SocketBudget(server, 1_000);
    const two = new SocketBudget(server, 1_000);
    const three = new SocketBudget(server, 1_000);
    const t = tracker();
    t.take("one-1", one, 1_000);
    t.take("one-2", one, 500);
    t.take("one-3", one, 500);
    t.take("two-1", two, 500);
    t.take("three-1", three, 500);
    await settle();
    expect(t.order).toEqual(["one-1"]);
    // one-2 waits in its socket's queue (its budget is spent), so the server sees two and three.
    expect(server.waiting).toBe(2);
    t.grants.get("one-1")!.release();
    await settle();
    // Socket one's next request queues behind the others that were already waiting.
    expect(t.order).toEqual(["one-1", "two-1", "three-1"]);
    t.grants.get("two-1")!.release();
    await settle();
    expect(t.order).toEqual(["one-1", "two-1", "three-1", "one-2"]);
  });

  it("a request that gives up (abort) or whose socket closes leaves the queue at once", async () => {
    const server = new ServerBudget(1_000);
    const one = new SocketBudget(server, 1_000);
    const two = new SocketBudget(server, 1_000);
    const t = tracker();
    t.take("held", one, 1_000);
    const superseded = new AbortController();
    t.take("one-waiting", one, 800, superseded.signal);
    t.take("two-waiting", two, 800);
    t.take("two-later", two, 100);
    await settle();
    expect(server.waiting).toBe(1); // two's head; one's waits in one's own queue
    superseded.abort();
    await settle();
    expect(t.errors.get("one-waiting")).toMatchObject({ code: "CLOSED" });
    expect(one.waiting).toBe(0);
    two.close();
    await settle();
    expect(t.errors.get("two-waiting")).toMatchObject({ code: "CLOSED" });
    expect(t.errors.get("two-later")).toMatchObject({ code: "CLOSED" });
    expect(server.waiting).toBe(0);
    await expect(two.acquire(1)).rejects.toMatchObject({ code: "CLOSED" });
    // Closing gives back what a socket held.
    one.close();
    expect(server.used).toBe(0);
    t.grants.get("held")!.release(); // after close: nothing happens
    expect(server.used).toBe(0);
  });

  it("requests are clamped to the budget (a single large page still goes, alone) and grants shrink", async () => {
    const server = new ServerBudget(1_000);
    const socket = new SocketBudget(server, 500);
    const big = await socket.acquire(10_000);
    expect(big.bytes).toBe(500);
    big.shrink(200);
    expect(socket.used).toBe(200);
    expect(server.used).toBe(200);
    big.shrink(300); // grows never
    expect(big.bytes).toBe(200);
    big.release();
    expect(server.used).toBe(0);
  });

  it("linked signals abort with their parent or when the socket's budget closes, and unlink cleanly", () => {
    const socket = new SocketBudget(new ServerBudget(10), 10);
    const parent = new AbortController();
    const first = socket.linkedSignal(parent.signal);
    const second = socket.linkedSignal(new AbortController().signal);
    const disposed = socket.linkedSignal(new AbortController().signal);
    disposed.dispose();
    parent.abort();
    expect(first.signal.aborted).toBe(true);
    expect(second.signal.aborted).toBe(false);
    socket.close();
    expect(second.signal.aborted).toBe(true);
    expect(disposed.signal.aborted).toBe(false);
    expect(socket.linkedSignal(new AbortController().signal).signal.aborted).toBe(true);
  });
});
