// Type tests of `client.history`: `tsc -p tsconfig.json` (the package's `typecheck`) checks every
// `expectTypeOf`. At run time nothing connects: the calls are made on a closed client.

import { createAssuredClient, type HistoryEvent, type HistoryPage } from "@assured/client";
import { io } from "socket.io-client";
import { describe, expect, expectTypeOf, it } from "vitest";

interface ChatEvents {
  "chat:message": (data: { text: string; from: string }) => void;
  "chat:typing": (data: { from: string }) => void;
}

describe("typed history", () => {
  it("types a page's events as a union over the event names, data narrowed by name", async () => {
    const socket = io("http://127.0.0.1:9", { autoConnect: false, reconnection: false });
    const client = createAssuredClient<ChatEvents>(socket);
    await client.close();
    const read = () => client.history("room:1", { before: 10, limit: 5 });
    type Page = Awaited<ReturnType<typeof read>>;
    type Event = Page["events"][number];
    expectTypeOf<Event["name"]>().toEqualTypeOf<"chat:message" | "chat:typing">();
    const show = (event: Event) => {
      if (event.name === "chat:message") {
        expectTypeOf(event.data).toEqualTypeOf<{ text: string; from: string }>();
      } else {
        expectTypeOf(event.data).toEqualTypeOf<{ from: string }>();
      }
      expectTypeOf(event.offset).toBeNumber();
    };
    void show;
    // @ts-expect-error: a typo in an option name
    const typo = () => client.history("room:1", { befor: 3 });
    void typo;
    await expect(read()).rejects.toMatchObject({ code: "CLOSED" });
    socket.close();
  });

  it("types data as unknown, or the caller's T, without maps", async () => {
    const socket = io("http://127.0.0.1:9", { autoConnect: false, reconnection: false });
    const client = createAssuredClient(socket);
    await client.close();
    const loose = () => client.history("room:1");
    expectTypeOf<Awaited<ReturnType<typeof loose>>>().toEqualTypeOf<HistoryPage<HistoryEvent>>();
    const typed = () => client.history<{ n: number }>("room:1");
    expectTypeOf<Awaited<ReturnType<typeof typed>>["events"][number]["data"]>().toEqualTypeOf<{
      n: number;
    }>();
    await expect(typed()).rejects.toMatchObject({ code: "CLOSED" });
    socket.close();
  });
});
