import { createRequire } from "node:module";
import { EPOCH, fillEpochs, type RawSession } from "./arbitraries.js";
import { type FuzzContext, pause } from "./context.js";
import { checkReply, checkServerFrame } from "./oracle.js";
import { asSent, principalOfToken } from "./rules.js";

/** The subset of the `ws` package's WebSocket this file uses. */
interface WsSocket {
  readonly readyState: number;
  send(data: string | Uint8Array, callback: (error?: Error) => void): void;
  close(code?: number): void;
  terminate(): void;
  on(event: "open", listener: () => void): this;
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: "close", listener: () => void): this;
  on(event: "error", listener: (error: Error) => void): this;
}

type WsConstructor = new (
  url: string,
  options: {
    maxPayload: number;
    handshakeTimeout: number;
    perMessageDeflate: boolean;
    generateMask: (mask: Buffer) => void;
  },
) => WsSocket;

/**
 * The `ws` package is not a dependency of e2e, but socket.io-client's engine depends on it:
 * resolve it from there (the same copy the clients use).
 */
function loadWs(): WsConstructor {
  const fromE2e = createRequire(import.meta.url);
  const fromClient = createRequire(fromE2e.resolve("socket.io-client"));
  const fromEngine = createRequire(fromClient.resolve("engine.io-client"));
  return fromEngine("ws") as WsConstructor;
}

const WebSocket = loadWs();
const OPEN = 1;
const EPOCH_IN_JSON = JSON.stringify(EPOCH).slice(1, -1);
const SENT_ID = /"id":"((?:[^"\\]|\\.){0,300})"/g;

/** A decoded Socket.IO packet (as the server wrote it). */
interface SocketIoPacket {
  type: number;
  attachments: number;
  id: number | undefined;
  data: unknown;
}

/** Decodes a Socket.IO packet of the main namespace; undefined when it is not one. */
function parsePacket(text: string): SocketIoPacket | undefined {
  const type = Number(text[0]);
  if (!Number.isInteger(type)) return undefined;
  let at = 1;
  let attachments = 0;
  if (type === 5 || type === 6) {
    const dash = text.indexOf("-", at);
    if (dash < 0) return undefined;
    attachments = Number(text.slice(at, dash));
    at = dash + 1;
  }
  if (text[at] === "/") return undefined;
  const digits = /^\d*/.exec(text.slice(at, at + 20))![0];
  const id = digits === "" ? undefined : Number(digits);
  at += digits.length;
  let data: unknown;
  try {
    data = at < text.length ? JSON.parse(text.slice(at)) : undefined;
  } catch {
    return undefined;
  }
  return { type, attachments, id, data };
}

/** Puts binary attachments back in place of their `{ _placeholder, num }` objects. */
function reconstruct(value: unknown, buffers: Buffer[], depth = 0): unknown {
  if (depth > 16 || typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => reconstruct(item, buffers, depth + 1));
  const record = value as Record<string, unknown>;
  if (record._placeholder === true && typeof record.num === "number") return buffers[record.num];
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(record))
    out[key] = reconstruct(item, buffers, depth + 1);
  return out;
}

/**
 * Plays one generated `RawSession` on a bare WebSocket speaking engine.io v4 by hand: the
 * Socket.IO CONNECT packet with a generated handshake, then the session's frames — garbage,
 * truncated packets, mismatched binary attachments, oversized frames, floods. Replies and
 * pushed frames it can decode go through the same oracle as the Socket.IO peers'.
 */
export async function runRawSession(
  ctx: FuzzContext,
  session: RawSession,
  where: string,
): Promise<void> {
  const principal = principalOfToken(asSent(session.token));
  const ws = new WebSocket(`ws://127.0.0.1:${ctx.port}/socket.io/?${session.query}`, {
    maxPayload: 64 * 1024 * 1024,
    handshakeTimeout: 5_000,
    perMessageDeflate: false,
    // An all-zero mask is a valid mask, and ws then skips masking: megabytes of frames cost
    // the fuzzer (two cores, shared with the server) nothing to send.
    generateMask: (mask) => mask.fill(0),
  });
  ctx.frames.handshakes++;
  let closed = false;
  let opened = false;
  const pending = new Map<number, { event: string; frame: unknown }>();
  let binary: { packet: SocketIoPacket; buffers: Buffer[] } | undefined;

  const write = (data: string | Uint8Array) =>
    new Promise<void>((resolve) => {
      if (closed || ws.readyState !== OPEN) return resolve();
      ctx.frames.raw++;
      ws.send(data, () => resolve());
    });

  const onPacket = (packet: SocketIoPacket) => {
    if (packet.type === 0) {
      const pid = (packet.data as { pid?: unknown } | undefined)?.pid;
      if (typeof pid === "string") {
        ctx.sessionIds.push(pid);
        if (ctx.sessionIds.length > 100) ctx.sessionIds.shift();
      }
      return;
    }
    if ((packet.type === 2 || packet.type === 5) && Array.isArray(packet.data)) {
      const [event, frame] = packet.data as [unknown, unknown];
      if (typeof event === "string") {
        checkServerFrame(ctx.findings, `${where} (received)`, principal, event, frame);
      }
      if (packet.id !== undefined && session.answerPings) void write(`43${packet.id}[]`);
      return;
    }
    if ((packet.type === 3 || packet.type === 6) && packet.id !== undefined) {
      const request = pending.get(packet.id);
      pending.delete(packet.id);
      const reply = Array.isArray(packet.data) ? packet.data[0] : undefined;
      if (request !== undefined) {
        checkReply(ctx.findings, where, principal, request.event, request.frame, reply);
      }
    }
  };

  const done = new Promise<void>((resolve) => {
    ws.on("close", () => {
      closed = true;
      resolve();
    });
  });
  ws.on("error", () => undefined);
  const openedPacket = new Promise<void>((resolve) => {
    ws.on("message", (data, isBinary) => {
      if (isBinary) {
        if (binary === undefined) return;
        binary.buffers.push(data);
        if (binary.buffers.length >= binary.packet.attachments) {
          const { packet, buffers } = binary;
          binary = undefined;
          onPacket({ ...packet, data: reconstruct(packet.data, buffers) });
        }
        return;
      }
      const text = data.toString("utf8");
      if (text.startsWith("0")) {
        opened = true;
        resolve();
      } else if (text === "2") {
        if (session.answerPings) void write("3");
      } else if (text.startsWith("4")) {
        const packet = parsePacket(text.slice(1));
        if (packet === undefined) return;
        if (packet.attachments > 0) binary = { packet, buffers: [] };
        else onPacket(packet);
      }
    });
  });

  // Ack ids are numbered per connection (the generated ones could repeat), so a reply can
  // only be matched with the request it answers.
  let nextAckId = 1;
  // The last packet parsed: a flood repeats one packet hundreds of times.
  let last: { generated: string; body: string; parsed: unknown[] | undefined } | undefined;
  const fillText = (generated: string): string => {
    let text = generated;
    const event = /^42(\d*)(\[[\s\S]*)$/.exec(text);
    if (event !== null) {
      const id = event[1] === "" ? "" : String(nextAckId++);
      if (last?.generated !== generated) {
        let parsed: unknown[] | undefined;
        let body = event[2]!;
        if (text.length < 100_000) {
          try {
            parsed = fillEpochs(JSON.parse(body), ctx.epochOf) as unknown[];
            body = JSON.stringify(parsed);
          } catch {
            parsed = undefined; // not JSON: sent as generated
          }
        }
        last = { generated, body, parsed };
      }
      const { parsed, body } = last;
      if (parsed !== undefined && id !== "" && typeof parsed[0] === "string") {
        pending.set(Number(id), { event: parsed[0], frame: parsed[1] });
        if (pending.size > 1_000) pending.delete(pending.keys().next().value!);
      }
      if (parsed !== undefined) return `42${id}${body}`;
      text = `42${id}${body}`;
    }
    const binary = /^45([^-[]*)-(\d+)\[/.exec(text);
    if (binary !== null) {
      text = `45${binary[1]}-${nextAckId++}${text.slice(binary[0].length - 1)}`;
    }
    return text.includes(EPOCH_IN_JSON)
      ? text.replaceAll(EPOCH_IN_JSON, JSON.stringify(ctx.epochOf(undefined)).slice(1, -1))
      : text;
  };

  try {
    await Promise.race([openedPacket, done, pause(ctx, 5_000)]);
    if (!opened || closed) return;
    let connect = session.connect;
    const stolen = ctx.sessionIds[ctx.sessionIds.length - 1];
    if (session.stealSession && stolen !== undefined && connect.startsWith("40{")) {
      try {
        const auth = JSON.parse(connect.slice(2)) as Record<string, unknown>;
        connect = `40${JSON.stringify({ ...auth, pid: stolen, offset: "0" })}`;
      } catch {
        // keep the generated packet
      }
    }
    for (const packet of connect === "" ? [] : connect.split("\n")) {
      await write(fillText(packet));
    }
    await pause(ctx, 20);
    for (const frame of session.frames) {
      if (closed || ctx.stopped()) break;
      if ("pauseMs" in frame) {
        await pause(ctx, frame.pauseMs);
        continue;
      }
      if ("text" in frame) {
        const text = fillText(frame.text);
        for (const match of text.slice(0, 10_000).matchAll(SENT_ID)) {
          try {
            ctx.findings.noteSentId(principal, JSON.parse(`"${match[1]}"`));
          } catch {
            // not a JSON string: the server cannot read that id either
          }
        }
        await write(`4${text}`);
      } else {
        await write(frame.binary);
      }
    }
    await Promise.race([done, pause(ctx, 300)]);
  } finally {
    if (!closed) ws.terminate();
  }
}
