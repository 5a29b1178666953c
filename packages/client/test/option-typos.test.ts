import { io } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { type AssuredClient, createAssuredClient, indexedDbStorage } from "../src/index.js";

const clients: AssuredClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
});

function socket() {
  return io("http://127.0.0.1:9", {
    autoConnect: false,
    forceNew: true,
    transports: ["websocket"],
  });
}

describe("a misspelled option is refused with the closest valid name (G12)", () => {
  it("createAssuredClient, its retry policy and indexedDbStorage: a suggestion for a typo, none for a far name", () => {
    expect(() => createAssuredClient(socket(), { ackTimeout: 5000 } as never)).toThrow(
      'unknown option "ackTimeout" of createAssuredClient — did you mean "ackTimeoutMs"? (see AssuredClientOptions).',
    );
    expect(() =>
      createAssuredClient(socket(), {
        retry: { initialMs: 10, maxMs: 100, factor: 2, maxRetries: 3 },
      } as never),
    ).toThrow('unknown option "maxRetries" of retry (see RetryPolicy).');
    expect(() =>
      createAssuredClient(socket(), { retry: { initialMs: 10, maxMS: 100, factor: 2 } } as never),
    ).toThrow('unknown option "maxMS" of retry — did you mean "maxMs"?');
    expect(() => createAssuredClient(socket(), { zzz: 1 } as never)).toThrow(
      'unknown option "zzz" of createAssuredClient (see AssuredClientOptions).',
    );
    expect(() => indexedDbStorage({ dbname: "a" } as never)).toThrow(
      'unknown option "dbname" of indexedDbStorage — did you mean "dbName"?',
    );
  });

  it("subscribe, resubscribe and emit options", async () => {
    const client = createAssuredClient(socket());
    clients.push(client);
    expect(() => client.subscribe("s", { form: "earliest" } as never)).toThrow(
      'unknown option "form" of subscribe — did you mean "from"? (see SubscribeOptions).',
    );
    expect(() => client.resubscribe("s", { From: "earliest" } as never)).toThrow(
      'unknown option "From" of resubscribe — did you mean "from"? (see SubscribeOptions).',
    );
    expect(() => client.subscribe("s", { position: 3 } as never)).toThrow(
      'unknown option "position" of subscribe (see SubscribeOptions).',
    );
    await expect(client.emit("m", 1, { ids: "x" } as never)).rejects.toThrow(
      'unknown option "ids" of emit — did you mean "id"? (see EmitOptions).',
    );
  });
});
