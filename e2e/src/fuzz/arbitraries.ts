/**
 * fast-check generators of everything a hostile client can put on the wire: well-formed and
 * malformed versions of every client frame of `docs/protocol.md` (`assured:sub`,
 * `assured:unsub`, `assured:fetch`, `assured:heads`, `assured:msg`), message payloads that are
 * random bytes or MessagePack container-header bombs, hostile handshakes, and raw engine.io /
 * WebSocket frames (garbage, truncated Socket.IO packets, attachment count mismatches, packets
 * claiming 1e9 attachments, oversized frames).
 *
 * Values that must match the server's state (a stream's current epoch) are written as the
 * `EPOCH` placeholder and filled in when the frame is sent (`fillEpochs`).
 */
import { encode } from "@assured/core";
import { PROTOCOL_VERSION } from "@assured/core/protocol";
import fc from "fast-check";
import {
  HANDLER_NAMES,
  HOSTILE_PRINCIPALS,
  HTTP_PRINCIPALS,
  KNOWN_STREAMS,
  RAW_PRINCIPALS,
} from "./rules.js";

/** Placeholder for "the current epoch of this frame's stream", replaced at send time. */
export const EPOCH = "\u0000fuzz-epoch\u0000";

/** Client frames of the protocol. */
export const CLIENT_EVENTS = [
  "assured:sub",
  "assured:unsub",
  "assured:fetch",
  "assured:heads",
  "assured:msg",
] as const;

/** Request frames that must always be answered through their ack. */
export const ACKED_EVENTS: ReadonlySet<string> = new Set([
  "assured:fetch",
  "assured:heads",
  "assured:msg",
]);

/** One frame a Socket.IO peer emits, `repeat` times in a row. */
export interface EmitAction {
  kind: "emit";
  event: string;
  args: unknown[];
  ack: boolean;
  repeat: number;
}

/** A pause between frames. */
export interface PauseAction {
  kind: "pause";
  ms: number;
}

/**
 * Drop the connection and come back: through the engine (Socket.IO's connection state
 * recovery restores the session) or a full disconnect, optionally with another token.
 */
export interface ReconnectAction {
  kind: "reconnect";
  viaEngineClose: boolean;
  token: unknown;
}

export type PeerAction = EmitAction | PauseAction | ReconnectAction;

/** One connection's life: its handshake `auth`, whether it acks replay batches, its frames. */
export interface PeerSession {
  auth: Record<string, unknown>;
  ackBatches: boolean;
  actions: PeerAction[];
}

/** One WebSocket frame of a raw engine.io peer: `text` is a whole engine.io packet ("42[…]"). */
export type RawFrame = { text: string } | { binary: Uint8Array } | { pauseMs: number };

/** One raw engine.io connection's life. */
export interface RawSession {
  /** Query string of the WebSocket URL. */
  query: string;
  /** Socket.IO CONNECT packet(s) sent after engine.io's open packet ("" for none). */
  connect: string;
  /** The principal the CONNECT packet's auth names (for the oracle). */
  token: unknown;
  /** Reuse a session id (`pid`) another connection got, to try connection state recovery. */
  stealSession: boolean;
  /** Answer engine.io pings (else the server drops the connection after its ping timeout). */
  answerPings: boolean;
  frames: RawFrame[];
}

/** An HTTP request against the engine.io endpoint (long-polling handshakes and garbage). */
export interface HttpProbe {
  method: "GET" | "POST" | "OPTIONS" | "PUT";
  /** Query string; `{sid}` is replaced by a session id from a polling handshake. */
  query: string;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
}

// ——— values ———

const weirdNumber = fc.constantFrom(
  -1,
  -0,
  0.5,
  1.5,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 - 1,
  2 ** 53 + 2,
  -(2 ** 53),
  2 ** 60,
  1e21,
  1e300,
  -1e300,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.EPSILON,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
);

const PROTO_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty"];

/** Objects with own `__proto__` / `constructor` keys (built with JSON.parse, as a server sees them). */
const protoValue = fc.constantFrom(
  () => JSON.parse('{"__proto__":{"polluted":true,"stream":"secret:alice"}}'),
  () => JSON.parse('{"constructor":{"prototype":{"polluted":true}}}'),
  () => JSON.parse('{"__proto__":null}'),
  () => JSON.parse('{"stream":"public:lobby","__proto__":{"stream":"secret:bob","limit":1}}'),
  () => ({ toString: 1, valueOf: "x", hasOwnProperty: 2, length: 3 }),
  () => Object.create(null) as object,
);

const longString = fc
  .tuple(
    fc.integer({ min: 257, max: 200_000 }),
    fc.constantFrom("x", "\u0000", "é", "😀", "\ud800"),
  )
  .map(([n, unit]) => unit.repeat(Math.ceil(n / unit.length)));

const nastyString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 30, unit: "binary" }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "",
      ...PROTO_KEYS,
      "assured:",
      "assured:msg",
      "\u0000",
      "\ud800",
      "%s%n%d",
      "$gt",
      "{}",
      "null",
      "../..",
      "x".repeat(256),
      "x".repeat(257),
    ),
  },
  { weight: 1, arbitrary: longString },
);

/** Binary of several kinds (sent as Socket.IO attachments, arriving as Node Buffers). */
const smallBinary: fc.Arbitrary<ArrayBufferView> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc
    .constantFrom(
      () => new Float64Array([Number.NaN, 1]),
      () => new Int32Array([-1]),
      () => new Uint8Array(0),
      () => new DataView(new ArrayBuffer(3)),
    )
    .map((make): ArrayBufferView => make()),
);

function deepArray(depth: number, leaf: unknown = 0): unknown {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function deepObject(depth: number): unknown {
  let value: unknown = null;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

/** Deep nesting a Socket.IO client can still serialize (its binary check recurses). */
const deepValue = fc
  .tuple(fc.integer({ min: 20, max: 2_000 }), fc.boolean())
  .map(([depth, array]) => (array ? deepArray(depth) : deepObject(depth)));

/** Any value a hostile frame field may hold instead of the right one. */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  {
    weight: 2,
    arbitrary: fc.anything({
      maxDepth: 2,
      withTypedArray: true,
      withNullPrototype: true,
      withSparseArray: true,
      withBoxedValues: true,
      withDate: true,
    }),
  },
  { weight: 2, arbitrary: nastyString },
  { weight: 2, arbitrary: weirdNumber },
  { weight: 1, arbitrary: smallBinary },
  { weight: 1, arbitrary: protoValue.map((make) => make()) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, true, [], {}) },
  { weight: 1, arbitrary: deepValue },
  { weight: 1, arbitrary: fc.nat(20_000).map((n) => new Array(n).fill(0)) },
);

/** Something that is not a string, for fields that must be strings. */
const notString = anyValue.filter((v) => typeof v !== "string");

// ——— frame fields ———

export const streamName: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...KNOWN_STREAMS) },
  { weight: 2, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "",
      "s".repeat(256),
      "s".repeat(257),
      "secret:alice\u0000",
      "SECRET:alice",
      " secret:bob",
      "secret:bob ",
      "secret:alice/../bob",
      "deny:vault\n",
      "assured:secret:bob",
      "%",
      "*",
      "$gt",
      "\ud800",
    ),
  },
  { weight: 1, arbitrary: notString },
  { weight: 1, arbitrary: smallBinary },
);

const epoch = fc.oneof(
  { weight: 6, arbitrary: fc.constant(EPOCH) },
  { weight: 2, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "e".repeat(128), "e".repeat(129), "__proto__") },
  { weight: 1, arbitrary: notString },
);

const offset = fc.oneof(
  { weight: 6, arbitrary: fc.nat(400) },
  { weight: 1, arbitrary: fc.constantFrom(0, 2 ** 53 - 1) },
  { weight: 2, arbitrary: weirdNumber },
  { weight: 1, arbitrary: fc.constantFrom("5", null, {}, [1], true) },
);

const position = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  { weight: 6, arbitrary: fc.record({ epoch, offset }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: anyValue },
);

const from = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("head", "earliest", undefined) },
  { weight: 1, arbitrary: anyValue },
);

const limit = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 2_000 }) },
  { weight: 2, arbitrary: weirdNumber },
  { weight: 1, arbitrary: fc.constantFrom(0, 1e9, "10", null) },
);

/** A message id: from small pools shared by every principal (collisions!), random, or invalid. */
const messageId = fc.oneof(
  { weight: 6, arbitrary: fc.nat(15).map((n) => `shared-${n}`) },
  { weight: 3, arbitrary: fc.nat(63).map((n) => `good-${n}`) },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.constantFrom("", "x".repeat(256), "x".repeat(257), ...PROTO_KEYS) },
  { weight: 1, arbitrary: notString },
);

const seq = fc.oneof(
  { weight: 6, arbitrary: fc.nat(200) },
  { weight: 2, arbitrary: weirdNumber },
  { weight: 1, arbitrary: fc.constantFrom("1", null, undefined) },
);

const messageName = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...HANDLER_NAMES) },
  {
    weight: 2,
    arbitrary: fc.constantFrom("unknown", "assured:msg", "", "x".repeat(257), ...PROTO_KEYS),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: notString },
);

// ——— MessagePack payloads ———

function concat(parts: readonly (readonly number[] | Uint8Array)[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const be16 = (n: number) => [(n >>> 8) & 0xff, n & 0xff];
const be32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

/** The crash of record: twenty array32 headers announcing 33,554,431 elements each. */
export const ARRAY32_BOMB = concat(
  Array.from({ length: 20 }, () => [0xdd, 0x01, 0xff, 0xff, 0xff]),
);

const hugeLength = fc.oneof(
  fc.constantFrom(0x01ffffff, 0xffffffff, 0x7fffffff, 0x10000000, 0x00ffffff),
  fc.nat(),
);
const extType = fc.oneof(fc.constantFrom(0x10, 0x11, 0x12, 0xff), fc.nat(255));

/** One MessagePack container or string header announcing a (usually huge) length. */
const containerHeader: fc.Arbitrary<number[]> = fc.oneof(
  fc
    .tuple(fc.constantFrom(0xdd, 0xdf, 0xdb, 0xc6), hugeLength)
    .map(([tag, n]) => [tag, ...be32(n)]),
  fc.tuple(hugeLength, extType).map(([n, type]) => [0xc9, ...be32(n), type]),
  fc
    .tuple(fc.constantFrom(0xdc, 0xde, 0xda, 0xc5), fc.oneof(fc.constant(0xffff), fc.nat(0xffff)))
    .map(([tag, n]) => [tag, ...be16(n)]),
  fc.tuple(fc.nat(0xffff), extType).map(([n, type]) => [0xc8, ...be16(n), type]),
  fc.constantFrom(0x9f, 0x8f, 0xbf).map((tag) => [tag]),
);

/** ~100 bytes of nested container headers announcing huge lengths: must not exhaust memory. */
export const msgpackBomb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constant(ARRAY32_BOMB),
  fc
    .tuple(
      fc.array(containerHeader, { minLength: 1, maxLength: 30 }),
      fc.uint8Array({ maxLength: 16 }),
    )
    .map(([headers, tail]) => concat([...headers, tail])),
  fc
    .tuple(containerHeader, fc.integer({ min: 2, max: 40 }))
    .map(([header, copies]) => concat(Array.from({ length: copies }, () => header))),
);

/** Valid but extreme MessagePack: deep nesting, many elements, `__proto__` keys, odd extensions. */
const msgpackOddity: fc.Arbitrary<Uint8Array> = fc.oneof(
  // [[[[…nil…]]]] and {a:{a:{…}}}, up to ~60 KiB deep.
  fc
    .integer({ min: 100, max: 60_000 })
    .map((depth) => concat([new Uint8Array(depth).fill(0x91), [0xc0]])),
  fc
    .integer({ min: 100, max: 20_000 })
    .map((depth) => concat([...Array.from({ length: depth }, () => [0x81, 0xa1, 0x61]), [0xc0]])),
  // An array32 of 60,000 nils: 60 KB that decode to a 60,000-element array.
  fc.constant(concat([[0xdd, ...be32(60_000)], new Uint8Array(60_000).fill(0xc0)])),
  // { "__proto__": { "polluted": true } } and { "constructor": … }.
  fc.constantFrom(
    concat([
      [0x81, 0xa9],
      new TextEncoder().encode("__proto__"),
      [0x81, 0xa8],
      new TextEncoder().encode("polluted"),
      [0xc3],
    ]),
    concat([[0x81, 0xab], new TextEncoder().encode("constructor"), [0x80]]),
  ),
  // ext8 of Assured's typed-array kind / Node Buffer / ArrayBuffer types and the timestamp type.
  fc
    .tuple(fc.constantFrom(0x10, 0x11, 0x12, 0xff), fc.uint8Array({ maxLength: 40 }))
    .map(([type, data]) => concat([[0xc7, data.length, type], data])),
  // A map whose keys are not strings, and a str whose bytes are not UTF-8.
  fc.constant(concat([[0x81, 0x93, 0x01, 0x02, 0x03, 0x01]])),
  fc.constant(concat([[0xa4, 0xff, 0xfe, 0xed, 0x80]])),
);

/** Encodes a value with Assured's codec, or an invalid byte when it cannot be encoded. */
function encodeOrGarbage(value: unknown): Uint8Array {
  try {
    return encode(value);
  } catch {
    return new Uint8Array([0xc1]);
  }
}

/** An `assured:msg` payload: usually encoded data, often bytes no encoder would write. */
export const messagePayload: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: anyValue.map(encodeOrGarbage) },
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 4, arbitrary: msgpackBomb },
  { weight: 2, arbitrary: msgpackOddity },
  // Just above the server's 64 KiB limit, and well above it (still below maxHttpBufferSize).
  { weight: 1, arbitrary: fc.integer({ min: 65_537, max: 300_000 }).map((n) => new Uint8Array(n)) },
  // Wrong types: a string, an array of numbers, an array-like object, typed arrays of other kinds.
  {
    weight: 2,
    arbitrary: fc.oneof(
      nastyString,
      fc.array(fc.nat(255), { maxLength: 10 }),
      fc.constant({ 0: 0x90, length: 1 }),
      fc
        .constantFrom(
          () => new Float32Array([1, 2]),
          () => new Uint16Array([0x9090]),
        )
        .map((f) => f()),
      fc.constant(null),
    ),
  },
);

// ——— frames ———

/** Adds a few random keys (never replacing the frame's own) or removes one. */
function mangle<T extends Record<string, unknown>>(frame: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 8, arbitrary: frame },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          frame,
          fc.dictionary(
            fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(...PROTO_KEYS)),
            anyValue,
            { maxKeys: 3 },
          ),
        )
        .map(([f, extra]) => {
          const out: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(extra))
            Object.defineProperty(out, k, {
              value: v,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          for (const [k, v] of Object.entries(f)) {
            Object.defineProperty(out, k, {
              value: v,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          }
          return out;
        }),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(frame, fc.nat(5)).map(([f, drop]) => {
        const keys = Object.keys(f);
        const out = { ...f };
        if (keys.length > 0) delete out[keys[drop % keys.length]!];
        return out;
      }),
    },
  );
}

/** A whole frame that is not an object at all, or a huge array. */
const garbageFrame = fc.oneof(
  anyValue,
  fc
    .constantFrom("ledger", 42, null, [], () => new Array(100_000).fill(0))
    .map((v) => (typeof v === "function" ? v() : v)),
);

const withGarbage = (frame: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 9, arbitrary: frame }, { weight: 1, arbitrary: garbageFrame });

export const subFrame = withGarbage(mangle(fc.record({ stream: streamName, position, from })));
export const unsubFrame = withGarbage(mangle(fc.record({ stream: streamName })));
export const fetchFrame = withGarbage(
  mangle(fc.record({ stream: streamName, epoch, after: offset, limit })),
);

const streamList = fc.oneof(
  { weight: 6, arbitrary: fc.array(streamName, { maxLength: 20 }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(255, 256, 257, 300, 10_000)
      .map((n) => Array.from({ length: n }, (_, i) => `s${i}`)),
  },
  { weight: 1, arbitrary: fc.constant(Array.from({ length: 256 }, () => "secret:bob")) },
  { weight: 1, arbitrary: anyValue },
);
export const headsFrame = withGarbage(mangle(fc.record({ streams: streamList })));

/**
 * A message every field of which is valid (ids from the shared pools, a handler's name,
 * encoded data): it reaches the dedup store and the handlers, where the cross-principal
 * checks bite.
 */
export const wellFormedMessage = fc.record({
  id: fc.oneof(
    { weight: 4, arbitrary: fc.nat(15).map((n) => `shared-${n}`) },
    { weight: 2, arbitrary: fc.nat(63).map((n) => `good-${n}`) },
    { weight: 1, arbitrary: fc.uuid() },
  ),
  seq: fc.nat(1_000),
  name: fc.constantFrom(...HANDLER_NAMES),
  payload: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.nat(3), smallBinary).map(encodeOrGarbage),
});

export const messageFrame = fc.oneof(
  {
    weight: 3,
    arbitrary: withGarbage(
      mangle(
        fc.record(
          {
            id: messageId,
            seq,
            name: messageName,
            payload: messagePayload,
            age: seq,
            ttl: seq,
            prev: seq,
          },
          { requiredKeys: ["id", "seq", "name", "payload"] },
        ),
      ),
    ),
  },
  { weight: 2, arbitrary: wellFormedMessage },
);

/** The frame arbitrary of each client event. */
export const FRAME_OF: Readonly<Record<(typeof CLIENT_EVENTS)[number], fc.Arbitrary<unknown>>> = {
  "assured:sub": subFrame,
  "assured:unsub": unsubFrame,
  "assured:fetch": fetchFrame,
  "assured:heads": headsFrame,
  "assured:msg": messageFrame,
};

/** Arguments of an emit: the frame alone, nothing, or the frame with extra arguments. */
function argsOf(frame: fc.Arbitrary<unknown>): fc.Arbitrary<unknown[]> {
  return fc.oneof(
    { weight: 12, arbitrary: frame.map((f) => [f]) },
    { weight: 1, arbitrary: fc.constant<unknown[]>([]) },
    { weight: 1, arbitrary: fc.tuple(frame, anyValue, anyValue).map((a) => [...a]) },
  );
}

/** Events a client has no business sending: server→client frames, odd names. */
const strayEvent = fc.constantFrom(
  "assured:batch",
  "assured:subscribed",
  "assured:sub-error",
  "assured:error",
  "assured:hello",
  "assured:unsubscribed",
  "assured:",
  "assured:SUB",
  "assured:msg ",
  ...PROTO_KEYS,
);

const repeat = fc.oneof(
  { weight: 30, arbitrary: fc.constant(1) },
  { weight: 1, arbitrary: fc.integer({ min: 20, max: 400 }) },
);

/** One frame emitted by a Socket.IO peer, well-formed or not, with or without an ack. */
export const emitAction: fc.Arbitrary<EmitAction> = fc.oneof(
  ...CLIENT_EVENTS.map((event) => ({
    weight: event === "assured:msg" ? 6 : event === "assured:unsub" ? 1 : 3,
    arbitrary: fc.record({
      kind: fc.constant("emit" as const),
      event: fc.constant(event),
      args: argsOf(FRAME_OF[event]),
      // Requests are usually sent with their ack, subscriptions usually without.
      ack: ACKED_EVENTS.has(event)
        ? fc.oneof(
            { weight: 9, arbitrary: fc.constant(true) },
            { weight: 1, arbitrary: fc.constant(false) },
          )
        : fc.oneof(
            { weight: 9, arbitrary: fc.constant(false) },
            { weight: 1, arbitrary: fc.constant(true) },
          ),
      repeat,
    }),
  })),
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("emit" as const),
      event: strayEvent,
      args: fc.array(anyValue, { maxLength: 2 }),
      ack: fc.boolean(),
      repeat: fc.constant(1),
    }),
  },
);

/** A request that must be answered through its ack (for the single-frame property). */
export const ackedRequest: fc.Arbitrary<{ event: string; frame: unknown }> = fc.oneof(
  fc.record({ event: fc.constant("assured:fetch"), frame: fetchFrame }),
  fc.record({ event: fc.constant("assured:heads"), frame: headsFrame }),
  { weight: 2, arbitrary: fc.record({ event: fc.constant("assured:msg"), frame: messageFrame }) },
);

const token = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom<unknown>(...HOSTILE_PRINCIPALS) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(undefined, "", "x".repeat(65), "alice bob", 42),
  },
  { weight: 1, arbitrary: anyValue.filter((v) => typeof v !== "string") },
);

const subscriptionEntry = fc.oneof(
  { weight: 8, arbitrary: fc.record({ stream: streamName, position, from }) },
  { weight: 1, arbitrary: anyValue },
);

const clientId = fc.oneof(
  { weight: 8, arbitrary: fc.uuid() },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      "",
      "x".repeat(248),
      "x".repeat(249),
      "x".repeat(100_000),
      42,
      null,
      {},
      "__proto__",
    ),
  },
);

/** `auth.assured` of every shape: right, wrong version, wrong types, too many subscriptions. */
export const assuredHandshake: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record(
      {
        v: fc.constant(PROTOCOL_VERSION),
        clientId,
        subscriptions: fc.array(subscriptionEntry, { maxLength: 12 }),
        firstSeq: seq,
      },
      { requiredKeys: ["v", "clientId", "subscriptions"] },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      // Another version (a v1 client: PROTOCOL_VERSION for everything it sends) or no version.
      v: fc.constantFrom<unknown>(0, 1, 3, "2", null, 2.0000001, -1, undefined),
      clientId: fc.uuid(),
      subscriptions: fc.constant([]),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      v: fc.constant(PROTOCOL_VERSION),
      clientId: fc.uuid(),
      subscriptions: fc.oneof(
        fc.constantFrom<unknown>("ledger", { length: 5 }, null, 7),
        fc.constantFrom(255, 256, 257, 300, 10_000).chain((n) =>
          fc.constantFrom(
            Array.from({ length: n }, (_, i) => ({ stream: `s${i}`, position: null })),
            Array.from({ length: n }, (_, i) => ({
              stream: KNOWN_STREAMS[i % KNOWN_STREAMS.length],
              position: { epoch: EPOCH, offset: 0 },
              from: "earliest",
            })),
            Array.from({ length: n }, () => "garbage"),
          ),
        ),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, null, "v1", 1, [], {}) },
  { weight: 1, arbitrary: protoValue.map((make) => make()) },
);

/** A handshake's whole `auth`: the principal's token, Assured's fields, recovery fields. */
export const handshakeAuth: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    token,
    assuredHandshake,
    fc.option(fc.record({ pid: anyValue, offset: anyValue }), { freq: 8 }),
  )
  .map(([t, assured, recovery]) => ({
    ...(t === undefined ? {} : { token: t }),
    ...(assured === undefined ? {} : { assured }),
    ...(recovery ?? {}),
  }));

export const peerAction: fc.Arbitrary<PeerAction> = fc.oneof(
  { weight: 30, arbitrary: emitAction },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("pause" as const), ms: fc.nat(150) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("reconnect" as const),
      viaEngineClose: fc.boolean(),
      token,
    }),
  },
);

/** One hostile Socket.IO connection's life. */
export const peerSession: fc.Arbitrary<PeerSession> = fc.record({
  auth: handshakeAuth,
  ackBatches: fc.oneof(
    { weight: 4, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  ),
  actions: fc.array(peerAction, { minLength: 5, maxLength: 40 }),
});

// ——— raw engine.io / WebSocket frames ———

/** A Socket.IO packet as text, without binary attachments (JSON loses what JSON loses). */
function eventPacket(event: string, args: unknown[], ackId: number | undefined): string {
  let json: string;
  try {
    json = JSON.stringify([event, ...args], (_key, value) =>
      ArrayBuffer.isView(value)
        ? Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
        : value,
    );
  } catch {
    json = JSON.stringify([event]);
  }
  return `42${ackId ?? ""}${json}`;
}

const ackId = fc.oneof(fc.constant(undefined), fc.nat(1_000_000));

/** A well-formed Socket.IO text packet of a client frame. */
const validTextPacket = fc
  .constantFrom(...CLIENT_EVENTS)
  .chain((event) => fc.tuple(fc.constant(event), FRAME_OF[event], ackId))
  .map(([event, frame, id]) => eventPacket(event, [frame], id));

/**
 * A binary event: header `45<attachments>-<ack>` + JSON with placeholders, then binary frames.
 * The announced count, the placeholders' `num` and the frames that follow may disagree.
 */
const binaryEvent: fc.Arbitrary<RawFrame[]> = fc
  .record({
    announced: fc.oneof(
      fc.integer({ min: 1, max: 3 }).map(String),
      fc.constantFrom("0", "-1", "10", "11", "1000000000", "1e9", "abc", "", "9".repeat(30)),
    ),
    placeholderNum: fc.oneof(
      fc.nat(3),
      fc.constantFrom<unknown>(-1, 1e9, "0", "__proto__", null, 1.5),
    ),
    sent: fc.nat(4),
    id: ackId,
    frame: fc.record({ id: messageId, seq: fc.nat(50), name: messageName }),
    bytes: fc.oneof(fc.uint8Array({ maxLength: 64 }), msgpackBomb),
    trailingText: fc.boolean(),
  })
  .map(({ announced, placeholderNum, sent, id, frame, bytes, trailingText }) => {
    const payload = { _placeholder: true, num: placeholderNum };
    const json = JSON.stringify(["assured:msg", { ...frame, payload }]);
    const frames: RawFrame[] = [{ text: `45${announced}-${id ?? ""}${json}` }];
    for (let i = 0; i < sent; i++) frames.push({ binary: bytes });
    if (trailingText) frames.push({ text: eventPacket("assured:heads", [{ streams: [] }], 1) });
    return frames;
  });

/** Deeply nested JSON built as text (deeper than any client library would serialize). */
const deepTextPacket = fc
  .tuple(
    fc.integer({ min: 1_000, max: 200_000 }),
    fc.constantFrom("[", '{"a":'),
    fc.constantFrom(...CLIENT_EVENTS),
  )
  .map(([depth, open, event]) => {
    const close = open === "[" ? "]" : "}";
    return `42["${event}",${open.repeat(depth)}0${close.repeat(depth)}]`;
  });

const truncatedPacket = fc
  .tuple(
    fc.oneof(
      validTextPacket,
      fc.constant(
        '42["assured:msg",{"id":"x","seq":1,"name":"echo","payload":{"_placeholder":true,"num":0}}]',
      ),
    ),
    fc.nat(),
  )
  .map(([text, cut]) => text.slice(0, cut % Math.max(1, text.length)));

/** Socket.IO packets no client library would write (namespaces, reserved names, bad JSON). */
const socketIoGarbage = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "9",
        "21",
        "51-",
        "61-",
        "0/",
        "2/",
        "[",
      ),
      fc.string({ maxLength: 40 }),
    )
    .map(([prefix, rest]) => prefix + rest),
  fc.constantFrom(
    "0",
    "0{",
    "0null",
    '0["x"]',
    "0/admin,",
    "0/admin,{}",
    '2/admin,["assured:sub",{"stream":"secret:bob"}]',
    "1",
    '4{"message":"x"}',
    '3999999["x"]',
    "3[]",
    '2["connect"]',
    '2["disconnect"]',
    '2["disconnecting"]',
    '2["newListener","assured:sub"]',
    "2[1,2,3]",
    "2[null]",
    "2{}",
    '2["assured:msg"',
    "2" + "[".repeat(50),
    '51-["assured:msg",{"_placeholder":true,"num":0}]',
  ),
);

/** Engine.io frames: garbage, control packets out of place, and Socket.IO garbage inside "4". */
const engineGarbage = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ maxLength: 80, unit: "binary" }),
  fc
    .tuple(
      fc.constantFrom("0", "1", "2", "3", "5", "6", "7", "8", "9", "b", ""),
      fc.string({ maxLength: 40 }),
    )
    .map(([prefix, rest]) => prefix + rest),
  fc.constantFrom("2", "3", "2probe", "3probe", "5", "6", "4", "", "b"),
  socketIoGarbage.map((packet) => `4${packet}`),
);

/** A single WebSocket frame above Socket.IO's default 1 MB `maxHttpBufferSize`. */
const oversizedFrame = fc
  .tuple(fc.integer({ min: 1_000_001, max: 1_300_000 }), fc.boolean())
  .map(
    ([n, binary]): RawFrame =>
      binary ? { binary: new Uint8Array(n) } : { text: `42["assured:msg","${"x".repeat(n)}"]` },
  );

export const rawFrames: fc.Arbitrary<RawFrame[]> = fc.oneof(
  { weight: 6, arbitrary: validTextPacket.map((text) => [{ text }]) },
  { weight: 4, arbitrary: engineGarbage.map((text) => [{ text }]) },
  { weight: 3, arbitrary: truncatedPacket.map((text) => [{ text }]) },
  { weight: 3, arbitrary: binaryEvent },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((binary) => [{ binary }]) },
  { weight: 1, arbitrary: deepTextPacket.map((text) => [{ text }]) },
  { weight: 1, arbitrary: fc.nat(100).map((pauseMs) => [{ pauseMs }]) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        validTextPacket.filter((text) => text.length < 4_000),
        fc.integer({ min: 50, max: 600 }),
      )
      .map(([text, n]) => Array.from({ length: n }, () => ({ text }))),
  },
  { weight: 1, arbitrary: oversizedFrame.map((frame) => [frame]) },
);

const rawToken = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom<unknown>(...RAW_PRINCIPALS) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, "", 42, "x".repeat(65)) },
);

export const rawSession: fc.Arbitrary<RawSession> = fc
  .record({
    query: fc.oneof(
      { weight: 12, arbitrary: fc.constant("EIO=4&transport=websocket") },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          "EIO=3&transport=websocket",
          "EIO=4&transport=polling",
          "EIO=4&transport=websocket&sid=nope",
          "EIO=4&transport=websocket&b64=1",
          "EIO=abc&transport=websocket",
          "transport=websocket",
          `EIO=4&transport=websocket&x=${"y".repeat(4_000)}`,
        ),
      },
    ),
    token: rawToken,
    assured: assuredHandshake,
    connectStyle: fc.oneof(
      { weight: 10, arbitrary: fc.constant("normal" as const) },
      {
        weight: 1,
        arbitrary: fc.constantFrom("none" as const, "garbage" as const, "twice" as const),
      },
    ),
    stealSession: fc.oneof(
      { weight: 4, arbitrary: fc.constant(false) },
      { weight: 1, arbitrary: fc.constant(true) },
    ),
    answerPings: fc.oneof(
      { weight: 9, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    frames: fc.array(rawFrames, { minLength: 3, maxLength: 30 }).map((groups) => groups.flat()),
    garbageConnect: socketIoGarbage,
  })
  .map(
    ({
      query,
      token: t,
      assured,
      connectStyle,
      stealSession,
      answerPings,
      frames,
      garbageConnect,
    }) => {
      const auth = JSON.stringify({ ...(t === undefined ? {} : { token: t }), assured }) ?? "{}";
      const connect =
        connectStyle === "none"
          ? ""
          : connectStyle === "garbage"
            ? `4${garbageConnect}`
            : connectStyle === "twice"
              ? `40${auth}\n40${auth}`
              : `40${auth}`;
      return { query, token: t, connect, stealSession, answerPings, frames };
    },
  );

/** Hostile HTTP requests against the engine.io endpoint: long-polling handshakes and garbage. */
export const httpProbe: fc.Arbitrary<HttpProbe> = fc.oneof(
  fc.record({
    method: fc.constant("POST" as const),
    query: fc.constant("EIO=4&transport=polling&sid={sid}"),
    headers: fc.constant<Record<string, string>>({ "content-type": "text/plain;charset=UTF-8" }),
    body: fc.oneof(
      fc
        .tuple(fc.constantFrom<unknown>(...HTTP_PRINCIPALS, undefined, 42), assuredHandshake)
        .map(([t, a]) => `40${JSON.stringify({ token: t, assured: a }) ?? ""}`),
      validTextPacket,
      engineGarbage,
      fc.array(validTextPacket, { maxLength: 5 }).map((packets) => packets.join("\u001e")),
      fc.constant(`4${"x".repeat(1_100_000)}`),
      fc.constant("bAAAA\u001ebnot-base64!!"),
    ),
  }),
  fc.record({
    method: fc.constantFrom("GET" as const, "POST" as const, "OPTIONS" as const, "PUT" as const),
    query: fc.oneof(
      fc.constantFrom(
        "EIO=3&transport=polling",
        "EIO=4&transport=foo",
        "EIO=4&transport=polling&sid=nope",
        "EIO=4&transport=polling&sid=",
        "EIO=4&transport=polling&sid={sid}&sid=x",
        "EIO=4&transport=websocket",
        "",
        "EIO=4&transport=polling&j=__proto__",
      ),
      fc.nat(60_000).map((n) => `EIO=4&transport=polling&pad=${"p".repeat(n)}`),
    ),
    headers: fc.oneof(
      fc.constant<Record<string, string>>({}),
      fc.constantFrom<Record<string, string>>(
        { "content-type": "application/octet-stream" },
        { upgrade: "websocket", connection: "Upgrade" },
        { cookie: "io=__proto__" },
        { "x-forwarded-for": "1.1.1.1".repeat(100) },
      ),
    ),
    body: fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 100 }),
      fc.uint8Array({ maxLength: 100 }),
    ),
  }),
);

/**
 * Replaces every `EPOCH` placeholder in a frame (objects and arrays up to a small depth) with
 * the epoch of the stream named by the nearest enclosing `stream` field, or the fallback.
 * Copies what it changes; keeps own `__proto__` keys as own keys.
 */
export function fillEpochs(
  value: unknown,
  epochOf: (stream: unknown) => string,
  stream?: unknown,
  depth = 0,
): unknown {
  if (value === EPOCH) return epochOf(stream);
  if (depth > 6 || typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    if (value.length > 20_000) return value;
    let changed = false;
    const out = value.map((item) => {
      const filled = fillEpochs(item, epochOf, stream, depth + 1);
      if (filled !== item) changed = true;
      return filled;
    });
    return changed ? out : value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const record = value as Record<string, unknown>;
  const own = Object.getOwnPropertyDescriptor(record, "stream");
  const context = own !== undefined && "value" in own ? own.value : stream;
  let changed = false;
  const out: Record<string, unknown> = proto === null ? Object.create(null) : {};
  for (const key of Object.keys(record)) {
    const item = Object.getOwnPropertyDescriptor(record, key)?.value;
    const filled = fillEpochs(item, epochOf, context, depth + 1);
    if (filled !== item) changed = true;
    Object.defineProperty(out, key, {
      value: filled,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return changed ? out : value;
}
