import { describe, expect, it } from "vitest";
import { RoomHistory, type ShownMessage } from "../src/page/room-history.js";

/** A `Storage` over a Map, as the page's localStorage. */
function memoryStorage(): Storage {
  const items = new Map<string, string>();
  return {
    get length() {
      return items.size;
    },
    clear: () => items.clear(),
    getItem: (key) => items.get(key) ?? null,
    key: (index) => [...items.keys()][index] ?? null,
    removeItem: (key) => void items.delete(key),
    setItem: (key, value) => void items.set(key, value),
  };
}

const message = (offset: number): ShownMessage => ({
  offset,
  id: `c:${offset}`,
  author: "Ann",
  text: `m${offset}`,
  time: offset,
});

describe("RoomHistory paging", () => {
  it("pages older messages of the kept epoch, and stops paging at a page of another epoch", () => {
    const history = new RoomHistory(memoryStorage(), "general");
    history.add("e1", message(100));
    expect(history.hasOlder).toBe(true);
    expect(history.addOlder("e1", [message(98), message(99)], false)).toBe(2);
    expect(history.oldest).toBe(98);
    expect(history.hasOlder).toBe(true);
    // The log was reset under the kept messages: the page is ignored and no further page is
    // asked for (the recovery banner offers to load the room again).
    expect(history.addOlder("e2", [message(1)], false)).toBe(0);
    expect(history.hasOlder).toBe(false);
    expect(history.messages.map((m) => m.offset)).toEqual([98, 99, 100]);
  });

  it("a page that reaches the start of the log ends paging", () => {
    const history = new RoomHistory(memoryStorage(), "general");
    history.add("e1", message(3));
    expect(history.addOlder("e1", [message(2)], true)).toBe(1);
    expect(history.hasOlder).toBe(false);
  });
});
