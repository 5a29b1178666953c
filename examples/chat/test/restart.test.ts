import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@assured/test-services";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiEventId, pageEventId, type SendResult } from "../src/chat-protocol.js";
import { type ChatProcess, startChatProcess } from "./chat-process.js";
import { NodeChatClient } from "./node-chat-client.js";

const ROOM = "general";
const CLIENTS = 3;
/** Messages each client sends. */
const MESSAGES = 60;
/** Messages posted through the HTTP route. */
const POSTS = 40;
const TOTAL = CLIENTS * MESSAGES + POSTS;
/** The server is killed once this many client messages have been answered. */
const KILL_AFTER = 30;

describe("the chat server killed and restarted on the same SQLite file", () => {
  let dir: string;
  let dbPath: string;
  let port: number;
  let server: ChatProcess | undefined;
  const clients: NodeChatClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "assured-chat-restart-"));
    dbPath = join(dir, "chat.sqlite");
    port = await freePort();
    server = await startChatProcess({ dbPath, port });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("G2/G5/G9: SIGKILL mid-publish and mid-send loses nothing, handles nothing twice, recovers", async () => {
    const url = server!.url;
    for (let i = 0; i < CLIENTS; i++) clients.push(new NodeChatClient(url, ROOM));
    const clientIds = await Promise.all(clients.map((c) => c.connect()));

    // The server comes back once the test restarts it; the HTTP poster waits for that.
    let serverBack!: () => void;
    const restarted = new Promise<void>((resolve) => {
      serverBack = resolve;
    });

    // Every client sends all its messages at once (the outbox keeps a window in flight).
    let answered = 0;
    let killPoint!: () => void;
    const killTime = new Promise<void>((resolve) => {
      killPoint = resolve;
    });
    const sends = clients.map((c, i) =>
      Promise.all(
        Array.from({ length: MESSAGES }, (_, j) =>
          c.send(ROOM, `client ${i} message ${j}`, `m-${i}-${j}`).then((result) => {
            if (++answered === KILL_AFTER) killPoint();
            return result;
          }),
        ),
      ),
    );

    // A script posts through the HTTP route, one at a time; a post that dies with the server
    // is posted again (same id) once the server is back.
    let posted = 0;
    const posts = (async () => {
      const offsets: number[] = [];
      for (let j = 0; j < POSTS; j++) {
        for (let attempt = 1; ; attempt++) {
          try {
            offsets.push(await post(url, `post ${j}`, `p-${j}`));
            posted++;
            break;
          } catch (error) {
            if (attempt === 3) throw error;
            await restarted;
          }
        }
      }
      return offsets;
    })();

    await killTime;
    await server!.kill();
    const answeredAtKill = answered;
    const postedAtKill = posted;
    server = await startChatProcess({ dbPath, port });
    serverBack();

    const sent: SendResult[][] = await Promise.all(sends);
    const postOffsets = await posts;
    await Promise.all(clients.map((c) => c.delivered(TOTAL)));

    // The kill really landed in the middle of both workloads.
    expect(answeredAtKill).toBeLessThan(CLIENTS * MESSAGES);
    expect(postedAtKill).toBeLessThan(POSTS);

    const expectedIds = new Set<string>();
    clientIds.forEach((clientId, i) => {
      for (let j = 0; j < MESSAGES; j++) expectedIds.add(pageEventId(clientId, `m-${i}-${j}`));
    });
    for (let j = 0; j < POSTS; j++) expectedIds.add(apiEventId(`p-${j}`));

    const offsets = Array.from({ length: TOTAL }, (_, k) => k + 1);
    const reference = clients[0]!.deliveries;
    for (const c of clients) {
      // Every event once, in offset order, with no gap (G1–G3), across the restart (G5).
      expect(c.deliveries.map((d) => d.offset)).toEqual(offsets);
      expect(new Set(c.deliveries.map((d) => d.id))).toEqual(expectedIds);
      expect(c.deliveries).toEqual(reference);
      // Every (re)subscription recovered, and the log kept its epoch: the file kept the log.
      // (The first subscription saw the room before its first message: no epoch yet.)
      const epoch = reference[0]!.epoch;
      expect(c.outcomes.length).toBeGreaterThanOrEqual(2);
      expect(c.outcomes.every((o) => o.recovered)).toBe(true);
      expect(c.outcomes.slice(1).map((o) => o.position.epoch)).toEqual(
        c.outcomes.slice(1).map(() => epoch),
      );
      expect(c.deliveries.every((d) => d.epoch === epoch)).toBe(true);
    }

    // Each answer names the offset its message was published at.
    const offsetOf = new Map(reference.map((d) => [d.id, d.offset]));
    clientIds.forEach((clientId, i) => {
      sent[i]!.forEach((result, j) => {
        expect(result.offset).toBe(offsetOf.get(pageEventId(clientId, `m-${i}-${j}`)));
      });
    });
    postOffsets.forEach((offset, j) => {
      expect(offset).toBe(offsetOf.get(apiEventId(`p-${j}`)));
    });

    // A clean stop, then the file itself: every message id once, offsets 1..TOTAL.
    expect(await server!.stop()).toBe(0);
    server = undefined;
    const db = new Database(dbPath, { readonly: true });
    try {
      const rows = db
        .prepare(
          `SELECT e.event_offset AS offset, e.event_id AS id
             FROM assured_events e JOIN assured_streams s USING (stream_id)
            WHERE s.stream_name = ? ORDER BY e.event_offset`,
        )
        .all(`room:${ROOM}`) as Array<{ offset: number; id: string }>;
      expect(rows.map((r) => r.offset)).toEqual(offsets);
      expect(rows.map((r) => r.id).sort()).toEqual([...expectedIds].sort());
      const head = db
        .prepare("SELECT head FROM assured_streams WHERE stream_name = ?")
        .pluck()
        .get(`room:${ROOM}`);
      expect(head).toBe(TOTAL);
      const done = db
        .prepare("SELECT count(*) FROM assured_dedup WHERE state = 'done'")
        .pluck()
        .get();
      expect(done).toBe(CLIENTS * MESSAGES);
    } finally {
      db.close();
    }
  });
});

async function post(url: string, text: string, id: string): Promise<number> {
  const response = await fetch(`${url}/api/rooms/${ROOM}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ author: "script", text, id }),
  });
  if (!response.ok) throw new Error(`POST answered ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as { offset: number };
  return body.offset;
}
