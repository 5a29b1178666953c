import { MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { Server, type Socket } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { createAssuredServer } from "../src/index.js";
import { assuredAuth, startAssured } from "./harness.js";

type Started = Awaited<ReturnType<typeof startAssured>>;
const servers: Started[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

const stores = () => ({ store: new MemoryEventStore(), dedupStore: new MemoryDedupStore() });

describe("a misspelled option is refused with the closest valid name (G12)", () => {
  it("createAssuredServer and its limits: suggestion for a typo, none for a far name", () => {
    const io = new Server();
    expect(() => createAssuredServer(io, { ...stores(), authorise: () => true } as never)).toThrow(
      'unknown option "authorise" of createAssuredServer — did you mean "authorize"? (see AssuredServerOptions).',
    );
    expect(() =>
      createAssuredServer(io, { ...stores(), limits: { maxPayloadByte: 10 } } as never),
    ).toThrow('unknown option "maxPayloadByte" of limits — did you mean "maxPayloadBytes"?');
    expect(() => createAssuredServer(io, { ...stores(), zzz: 1 } as never)).toThrow(
      'unknown option "zzz" of createAssuredServer (see AssuredServerOptions).',
    );
    // The limits of protocol v1's pushed replay name what replaced them.
    expect(() =>
      createAssuredServer(io, { ...stores(), limits: { replayWindow: 4 } } as never),
    ).toThrow(/limits.replayWindow was removed in protocol v2: the server no longer pushes/);
    expect(() =>
      createAssuredServer(io, { ...stores(), limits: { replayAckTimeoutMs: 4 } } as never),
    ).toThrow(/limits.writeTimeoutMs/);
    expect(() =>
      createAssuredServer(io, { ...stores(), limits: { replayBatchSize: 4 } } as never),
    ).toThrow(/limits.fetchLimit/);
    // An inherited name is not a limit.
    expect(() =>
      createAssuredServer(io, { ...stores(), limits: { toString: 5 } } as never),
    ).toThrow('unknown option "toString" of limits');
  });

  it("publish, subscribe and close options", async () => {
    const server = await startAssured();
    servers.push(server);
    const sockets: Socket[] = [];
    server.io.on("connection", (socket) => sockets.push(socket));
    await server.connect(assuredAuth());
    const [socket] = sockets;
    await expect(server.assured.publish("s", "e", 1, { ID: "x" } as never)).rejects.toThrow(
      'unknown option "ID" of publish — did you mean "id"? (see PublishOptions).',
    );
    expect(() => server.assured.subscribe(socket!, "s", { form: "earliest" } as never)).toThrow(
      'unknown option "form" of subscribe — did you mean "from"? (see ServerSubscribeOptions).',
    );
    expect(() => server.assured.subscribe(socket!, "s", { replay: true } as never)).toThrow(
      'unknown option "replay" of subscribe (see ServerSubscribeOptions).',
    );
    await expect(server.assured.close({ timeout: 5 } as never)).rejects.toThrow(
      'unknown option "timeout" of close — did you mean "timeoutMs"? (see CloseOptions).',
    );
  });
});
