// Type tests: `tsc -p tsconfig.json` (the package's `typecheck`, which includes test/) checks
// every `expectTypeOf` and fails on an unused `@ts-expect-error`, so a typo that compiles
// (or a typed call that stops compiling) fails `pnpm typecheck`. At run time the calls are
// no-ops; the Socket.IO servers here never listen.
import { MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { type Namespace, Server, type Socket } from "socket.io";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import {
  type AssuredServer,
  createAssuredServer,
  type MessageContext,
  type MessagesMap,
  type PublishMap,
  type SocketOf,
} from "../src/index.js";

interface ClientToServer {
  hello: (name: string) => void;
}
interface ServerToClient {
  news: (count: number) => void;
}
interface InterServer {
  ping: () => void;
}
interface SocketData {
  userId: string;
}
type TypedSocket = Socket<ClientToServer, ServerToClient, InterServer, SocketData>;

/** The protocol file the client shares (`createAssuredClient<ChatEvents, ChatMessages>`). */
interface ChatMessages {
  "chat:send": (data: { room: string; text: string }) => { offset: number };
}
interface ChatEvents {
  "chat:message": (data: { text: string; from: string }) => void;
}

/** A typed Socket.IO server, never attached to an HTTP server (nothing to close). */
function typedServer(): Server<ClientToServer, ServerToClient, InterServer, SocketData> {
  return new Server<ClientToServer, ServerToClient, InterServer, SocketData>();
}
function stores() {
  return { store: new MemoryEventStore(), dedupStore: new MemoryDedupStore() };
}
const assureds: { close(): Promise<boolean> }[] = [];
afterEach(async () => {
  for (const assured of assureds.splice(0)) await assured.close();
});

describe("socket type inferred from a typed Socket.IO server", () => {
  it("infers the socket (events and socket.data) from io without type arguments", () => {
    const io = typedServer();
    const assured = createAssuredServer(io, {
      ...stores(),
      authorize: (socket) => {
        expectTypeOf(socket).toEqualTypeOf<TypedSocket>();
        return socket.data.userId !== "";
      },
      identify: (socket) => socket.data.userId,
    });
    assureds.push(assured);
    expectTypeOf(assured).toEqualTypeOf<AssuredServer<MessagesMap, PublishMap, TypedSocket>>();
    assured.on("anything", (data, context) => {
      expectTypeOf(data).toBeAny();
      expectTypeOf(context).toEqualTypeOf<MessageContext<TypedSocket>>();
      expectTypeOf(context.socket.data.userId).toBeString();
      context.socket.emit("news", 1);
      // @ts-expect-error: news carries a number
      context.socket.emit("news", "one");
      // @ts-expect-error: a typo in a socket.data field
      return context.socket.data.userID;
    });
    io.on("connection", (socket) => {
      void assured.subscribe(socket, `user:${socket.data.userId}`);
    });
  });

  it("infers it from a typed namespace", () => {
    const nsp = typedServer().of("/chat");
    expectTypeOf(nsp).toEqualTypeOf<
      Namespace<ClientToServer, ServerToClient, InterServer, SocketData>
    >();
    const assured = createAssuredServer(nsp, stores());
    assureds.push(assured);
    expectTypeOf(assured).toEqualTypeOf<AssuredServer<MessagesMap, PublishMap, TypedSocket>>();
    expectTypeOf<SocketOf<typeof nsp>>().toEqualTypeOf<TypedSocket>();
  });

  it("types messages, events and the socket with <Messages, Events, typeof io>", async () => {
    const io = typedServer();
    const assured = createAssuredServer<ChatMessages, ChatEvents, typeof io>(io, {
      ...stores(),
      identify: (socket) => socket.data.userId,
    });
    assureds.push(assured);
    expectTypeOf(assured).toEqualTypeOf<AssuredServer<ChatMessages, ChatEvents, TypedSocket>>();
    assured.on("chat:send", async (data, { socket }) => {
      expectTypeOf(data).toEqualTypeOf<{ room: string; text: string }>();
      expectTypeOf(socket.data).toEqualTypeOf<SocketData>();
      return assured.publish(`room:${data.room}`, "chat:message", {
        text: data.text,
        from: socket.data.userId,
      });
    });
    // @ts-expect-error: a typo in a message name
    expect(() => assured.on("chat:sned", async () => ({ offset: 1 }))).not.toThrow();
    // @ts-expect-error: the handler must return { offset: number }
    expect(() => assured.on("chat:send", async () => "sent")).toThrow(/already registered/);
    // @ts-expect-error: a typo in an event name
    const typo = assured.publish("s", "chat:mesage", { text: "", from: "" });
    // @ts-expect-error: chat:message needs from
    const missing = assured.publish("s", "chat:message", { text: "" });
    await expect(Promise.all([typo, missing])).resolves.toHaveLength(2);
  });

  it("keeps <Messages, Events, SocketData> and <Messages, Events> as before", () => {
    const io = typedServer();
    const withData = createAssuredServer<ChatMessages, ChatEvents, SocketData>(io, stores());
    // biome-ignore lint/suspicious/noExplicitAny: the socket type these type arguments always gave.
    type DataSocket = Socket<any, any, any, SocketData>;
    expectTypeOf(withData).toEqualTypeOf<AssuredServer<ChatMessages, ChatEvents, DataSocket>>();
    withData.on("chat:send", (_data, { socket }) => {
      expectTypeOf(socket.data.userId).toBeString();
      return { offset: 1 };
    });
    assureds.push(withData);

    const plain = createAssuredServer<ChatMessages, ChatEvents>(new Server(), stores());
    assureds.push(plain);
    // TypeScript infers no type argument once some are given: socket.data stays `any`.
    plain.on("chat:send", (_data, { socket }) => {
      expectTypeOf(socket.data).toBeAny();
      return { offset: 1 };
    });

    const harness: AssuredServer = createAssuredServer(new Server(), stores());
    assureds.push(harness);
    expectTypeOf(harness).toEqualTypeOf<AssuredServer>();
  });
});
