// Type tests: `tsc -p tsconfig.json` (the package's `typecheck`, which includes test/) checks
// every `expectTypeOf` and fails on an unused `@ts-expect-error`, so a typo that compiles
// (or a typed call that stops compiling) fails `pnpm typecheck`. At run time the calls are
// no-ops; nothing here connects.

import {
  type AssuredClient,
  createAssuredClient,
  type EventHandler,
  type EventMeta,
  type ResultOf,
} from "@assured/client";
import type { AssuredServer } from "@assured/server";
import { io, type Socket } from "socket.io-client";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";

/** The one protocol file both ends import: the server's maps, Socket.IO style. */
interface ChatEvents {
  "chat:message": (data: { text: string; from: string }) => void;
  "chat:typing": (data: { from: string }) => void;
}
type ChatMessages = {
  "chat:send": (data: { room: string; text: string }) => { offset: number };
  "chat:count": (data: { room: string }) => Promise<number>;
};

const sockets: Socket[] = [];
function socket(): Socket {
  const s = io("http://127.0.0.1:9", { autoConnect: false, reconnection: false });
  sockets.push(s);
  return s;
}
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

describe("typed events and messages", () => {
  it("types on/off data and meta from the events map", () => {
    const client = createAssuredClient<ChatEvents, ChatMessages>(socket());
    expectTypeOf(client).toEqualTypeOf<AssuredClient<ChatEvents, ChatMessages>>();

    const remove = client.on("chat:message", (data, meta) => {
      expectTypeOf(data).toEqualTypeOf<{ text: string; from: string }>();
      expectTypeOf(meta).toEqualTypeOf<EventMeta>();
    });
    expectTypeOf(remove).toEqualTypeOf<() => void>();
    client.on("chat:typing", async ({ from }) => {
      expectTypeOf(from).toBeString();
    });

    const handler: EventHandler<{ text: string; from: string }> = () => {};
    client.on("chat:message", handler);
    client.off("chat:message", handler);

    // @ts-expect-error: a typo in an event name
    client.on("chat:mesage", () => {});
    // @ts-expect-error: a typo in an event name
    client.off("chat:mesage", handler);
    // @ts-expect-error: chat:message carries { text, from }, not a number
    client.on("chat:message", (data: number) => data);
    // @ts-expect-error: the handler of chat:typing does not take chat:message's data
    client.off("chat:typing", (data: { text: string; from: string; extra: boolean }) => data);
    // @ts-expect-error: with a typed map the data type comes from the map, not on<T>
    client.on<{ n: number }>("chat:message", () => {});
    expect(remove).toBeTypeOf("function");
  });

  it("types emit's data and result from the messages map", () => {
    const client = createAssuredClient<ChatEvents, ChatMessages>(socket());
    // Never called: emit needs connect(); only the types are checked.
    const calls = async () => {
      const sent = client.emit("chat:send", { room: "1", text: "hi" }, { id: "m1" });
      expectTypeOf(sent).toEqualTypeOf<Promise<{ offset: number }>>();
      // A handler returning a promise: the result is what it resolves with.
      expectTypeOf(client.emit("chat:count", { room: "1" })).toEqualTypeOf<Promise<number>>();
      expectTypeOf(await client.emit("chat:count", { room: "1" })).toEqualTypeOf<
        ResultOf<ChatMessages["chat:count"]>
      >();

      // @ts-expect-error: a typo in a message name
      await client.emit("chat:sned", { room: "1", text: "hi" });
      // @ts-expect-error: text is missing
      await client.emit("chat:send", { room: "1" });
      // @ts-expect-error: room must be a string
      await client.emit("chat:send", { room: 1, text: "hi" });
      // @ts-expect-error: an unknown field
      await client.emit("chat:count", { room: "1", text: "hi" });
      // @ts-expect-error: with a typed map the result comes from the map, not emit<R>
      await client.emit<string>("chat:send", { room: "1", text: "hi" });
    };
    expect(calls).toBeTypeOf("function");
  });

  it("keeps the loose behaviour without type arguments", () => {
    const client = createAssuredClient(socket());
    expectTypeOf(client).toEqualTypeOf<AssuredClient>();
    client.on("any:name", (data, meta) => {
      expectTypeOf(data).toBeUnknown();
      expectTypeOf(meta).toEqualTypeOf<EventMeta>();
    });
    client.on<{ n: number }>("tick", ({ n }) => {
      expectTypeOf(n).toBeNumber();
    });
    const tick = (data: { n: number }) => {
      expectTypeOf(data.n).toBeNumber();
    };
    client.on("tick", tick);
    client.off("tick", tick);
    const calls = async () => {
      expectTypeOf(client.emit("whatever", { any: "data" })).toEqualTypeOf<Promise<unknown>>();
      expectTypeOf(client.emit<{ offset: number }>("post", 1)).toEqualTypeOf<
        Promise<{ offset: number }>
      >();
    };
    expect(calls).toBeTypeOf("function");
  });

  it("types each map on its own", () => {
    const client = createAssuredClient<ChatEvents>(socket());
    client.on("chat:typing", (data) => {
      expectTypeOf(data).toEqualTypeOf<{ from: string }>();
    });
    const calls = async () => {
      expectTypeOf(client.emit("anything", 1)).toEqualTypeOf<Promise<unknown>>();
    };
    expect(calls).toBeTypeOf("function");
  });

  it("refuses a map of plain data types (they would type every data as any)", () => {
    // @ts-expect-error: entries must be signatures, (data: { text: string }) => void
    const client = createAssuredClient<{ "chat:message": { text: string } }>(socket());
    expect(client).toBeDefined();
  });

  it("shares one protocol type with the server", () => {
    // The server's generics are <Messages, Events>; the client's, Socket.IO style, <Events, Messages>.
    const defineServer = (assured: AssuredServer<ChatMessages, ChatEvents>) => {
      assured.on("chat:send", async (data) => {
        expectTypeOf(data).toEqualTypeOf<{ room: string; text: string }>();
        return assured.publish(`room:${data.room}`, "chat:message", { text: data.text, from: "x" });
      });
      // @ts-expect-error: the client waits for { offset: number }, not a string
      assured.on("chat:count", async () => "three");
    };
    const client = createAssuredClient<ChatEvents, ChatMessages>(socket());
    const calls = async () => {
      const { offset } = await client.emit("chat:send", { room: "1", text: "hi" });
      expectTypeOf(offset).toBeNumber();
    };
    expect([defineServer, calls]).toHaveLength(2);
    expect(client).toBeDefined();
  });
});
