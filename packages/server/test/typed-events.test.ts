import { decode } from "@assured/core";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { createAssuredServer } from "../src/index.js";
import { assuredAuth, startAssured } from "./harness.js";

interface Messages {
  add: (data: { a: number; b: number }) => number;
}
interface Events {
  tick: (data: { n: number }) => void;
}
interface SocketData {
  user: string;
}

type Started = Awaited<ReturnType<typeof startAssured>>;
let server: Started | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("typed events, Socket.IO style", () => {
  it("types handlers, published data and socket.data from the generics", async () => {
    server = await startAssured();
    const { io, store, dedupStore } = server;
    await server.assured.close();
    io.use((socket, next) => {
      socket.data.user = "alice";
      next();
    });
    const assured = createAssuredServer<Messages, Events, SocketData>(io, { store, dedupStore });
    assured.on("add", async (data, { socket }) => {
      expectTypeOf(data).toEqualTypeOf<{ a: number; b: number }>();
      expectTypeOf(socket.data.user).toBeString();
      return data.a + data.b;
    });
    // @ts-expect-error: not a message name of Messages
    expect(() => assured.on("nope", async () => 1)).not.toThrow();
    // @ts-expect-error: tick carries { n: number }
    await assured.publish("s", "tick", { n: "one" });
    const { offset } = await assured.publish("s", "tick", { n: 1 });
    expect(offset).toBe(2);
    const peer = await server.connect(assuredAuth());
    const reply = await peer.send("add", { a: 2, b: 3 });
    expect(decode((reply as { payload: Uint8Array }).payload)).toBe(5);
    await assured.close();
  });
});
