import { checkRoomName, FIXED_ROOMS } from "../chat-protocol.js";

const KEY = "chat:rooms";
/** Rooms one page may be in (the client subscribes to all of them). */
export const MAX_ROOMS = 50;

/** The rooms this page is in: the fixed ones, then those joined by name (kept in localStorage). */
export class RoomList {
  readonly #storage: Storage;
  readonly #rooms: string[];

  constructor(storage: Storage) {
    this.#storage = storage;
    let saved: unknown = [];
    try {
      saved = JSON.parse(storage.getItem(KEY) ?? "[]");
    } catch {
      // Damaged: start with the fixed rooms.
    }
    const joined = (Array.isArray(saved) ? saved : []).flatMap((name) => {
      const checked = checkRoomName(name);
      return checked.ok ? [checked.value] : [];
    });
    this.#rooms = [...new Set<string>([...FIXED_ROOMS, ...joined])].slice(0, MAX_ROOMS);
  }

  /** Every room, fixed ones first. */
  get all(): readonly string[] {
    return this.#rooms;
  }

  has(room: string): boolean {
    return this.#rooms.includes(room);
  }

  /**
   * Joins a room by what the user typed. Returns the room name and whether it is new, or the
   * problem with the input.
   */
  join(input: string): { ok: true; room: string; added: boolean } | { ok: false; problem: string } {
    const checked = checkRoomName(input);
    if (!checked.ok) return checked;
    const room = checked.value;
    if (this.has(room)) return { ok: true, room, added: false };
    if (this.#rooms.length >= MAX_ROOMS) {
      return { ok: false, problem: `you can be in at most ${MAX_ROOMS} rooms.` };
    }
    this.#rooms.push(room);
    this.#storage.setItem(KEY, JSON.stringify(this.#rooms));
    return { ok: true, room, added: true };
  }
}
