/**
 * The fuzzer's oracle: what the server may answer a hostile client, judged from the rules the
 * fuzz server runs with (`rules.ts`). Every check records a `Finding` instead of throwing, so a
 * run reports all it saw.
 */
import { ASSURED_ERROR_CODES, decode, type EventRecord } from "@assured/core";
import { unpackRecords } from "@assured/core/protocol";
import { asSent, mayRead, OWNER_FIELD, STREAM_FIELD } from "./rules.js";

export type FindingKind =
  /** Another principal's data, or a denied stream's records, room or subscription. */
  | "leak"
  /** An `INTERNAL` error: the server failed on input instead of refusing it with a typed error. */
  | "internal-error"
  /** An error that is not an `AssuredErrorData` with a known code. */
  | "untyped-error"
  /** A fetch, heads or msg request not answered within the timeout on a live connection. */
  | "unanswered"
  /** A reply or server frame of the wrong shape. */
  | "bad-reply"
  /** The well-behaved client was not served correctly. */
  | "good-client"
  /** The server process died. */
  | "crash"
  /** The server process stopped reporting while alive. */
  | "stall"
  /** The background publisher failed to publish. */
  | "publish-error";

/** One thing the fuzzer found, with where (seed-relative) it was found. */
export interface Finding {
  kind: FindingKind;
  where: string;
  detail: string;
}

const SAMPLES_PER_KIND = 8;
const KNOWN_CODES: ReadonlySet<string> = new Set(ASSURED_ERROR_CODES);

/** Everything found in one run: counts per kind and the first few of each. */
export class Findings {
  readonly counts = new Map<FindingKind, number>();
  readonly samples: Finding[] = [];
  /** Counts per finer category ("leak:denied-records", "internal-error:assured:msg"…). */
  readonly categories = new Map<string, number>();
  /** What the server answered, per frame and outcome ("assured:fetch ok", "assured:msg RATE_LIMITED"…). */
  readonly outcomes = new Map<string, number>();
  /** Per principal, how many frames carried each message id (for cross-principal checks). */
  readonly #sentIds = new Map<string, Map<string, number>>();

  add(kind: FindingKind, where: string, detail: string, category?: string): void {
    const label = category === undefined ? kind : `${kind}:${category}`;
    this.categories.set(label, (this.categories.get(label) ?? 0) + 1);
    const count = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, count);
    // The first few of each kind, and the first of each category.
    if (count <= SAMPLES_PER_KIND || this.categories.get(label) === 1) {
      this.samples.push({ kind, where, detail });
    }
  }

  /** Counts one answer of the server (coverage: how deep the frames got). */
  outcome(label: string): void {
    this.outcomes.set(label, (this.outcomes.get(label) ?? 0) + 1);
  }

  count(kind: FindingKind): number {
    return this.counts.get(kind) ?? 0;
  }

  /** Notes that a frame of `principal` carried message id `id`. */
  noteSentId(principal: string | undefined, id: unknown): void {
    if (principal === undefined || typeof id !== "string") return;
    let ids = this.#sentIds.get(principal);
    if (ids === undefined) {
      ids = new Map();
      this.#sentIds.set(principal, ids);
    }
    ids.set(id, (ids.get(id) ?? 0) + 1);
  }

  /** How many frames of `principal` carried message id `id`. */
  sentCount(principal: string, id: string): number {
    return this.#sentIds.get(principal)?.get(id) ?? 0;
  }
}

/** A short, printable description of any value (binary as length + hex prefix). */
export function describe(value: unknown, max = 300): string {
  let text: string;
  try {
    text =
      JSON.stringify(value, (_key, v: unknown) => {
        if (v instanceof Uint8Array || ArrayBuffer.isView(v)) {
          const bytes =
            v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
          return `<${v.constructor.name} ${bytes.byteLength}B ${Buffer.from(bytes.subarray(0, 24)).toString("hex")}>`;
        }
        if (typeof v === "bigint") return `${v}n`;
        if (typeof v === "number" && !Number.isFinite(v)) return String(v);
        if (typeof v === "string" && v.length > 80) return `${v.slice(0, 40)}…(${v.length} chars)`;
        if (Array.isArray(v) && v.length > 20) return [...v.slice(0, 5), `…(${v.length} items)`];
        return v;
      }) ?? String(value);
  } catch (error) {
    text = `<unprintable: ${String(error).slice(0, 60)}>`;
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * A frame's field as the server reads it: an own property (an inherited one is not sent),
 * after the trip through JSON (a boxed `new String("x")` arrives as "x").
 */
export function sentField(frame: unknown, key: string): unknown {
  if (!isRecord(frame) || !Object.hasOwn(frame, key)) return undefined;
  const value = frame[key];
  return typeof value === "object" && value !== null && !ArrayBuffer.isView(value)
    ? asSent(value)
    : value;
}

function codeOf(error: unknown): string {
  const code = isRecord(error) ? error.code : undefined;
  return typeof code === "string" ? code : "?";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks an error the server sent: a known code, a message, and never `INTERNAL`. */
export function checkErrorData(
  findings: Findings,
  where: string | (() => string),
  data: unknown,
  context?: string,
): void {
  const at = () => (typeof where === "string" ? where : where());
  if (
    !isRecord(data) ||
    typeof data.code !== "string" ||
    !KNOWN_CODES.has(data.code) ||
    typeof data.message !== "string"
  ) {
    findings.add("untyped-error", at(), `error ${describe(data)}`);
    return;
  }
  if (data.code === "INTERNAL") findings.add("internal-error", at(), describe(data), context);
}

const OWNER_TEXT = new RegExp(`${OWNER_FIELD}=([^\\s"]+)`, "g");
const SECRET_TEXT = /secret-of-([A-Za-z0-9_-]+)/g;

/**
 * The principals whose marks a value carries: `fuzzOwner` fields, and `fuzzOwner=<p>` or
 * `secret-of-<p>` in strings. Walks at most 10,000 nodes (handler output is small; an echo of
 * a hostile payload may not be).
 */
function marksOf(data: unknown): string[] {
  const owners: string[] = [];
  const stack: unknown[] = [data];
  for (let visited = 0; stack.length > 0 && visited < 10_000; visited++) {
    const value = stack.pop();
    if (typeof value === "string") {
      for (const match of value.matchAll(OWNER_TEXT)) owners.push(match[1]!);
      for (const match of value.matchAll(SECRET_TEXT)) owners.push(match[1]!);
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length && i < 1_000; i++) stack.push(value[i]);
    } else if (isRecord(value) && !ArrayBuffer.isView(value)) {
      for (const [key, item] of Object.entries(value)) {
        if (key === OWNER_FIELD && typeof item === "string") owners.push(item);
        else stack.push(item);
      }
    }
  }
  return owners;
}

/**
 * Checks decoded handler output (a result or a stored application error) for another
 * principal's marks: `fuzzOwner` fields and `secret-of-<principal>` strings.
 */
export function checkOwnData(
  findings: Findings,
  where: string,
  principal: string | undefined,
  data: unknown,
): void {
  for (const owner of marksOf(data)) {
    if (owner !== principal) {
      findings.add(
        "leak",
        where,
        `principal ${principal ?? "(none)"} received data of principal ${owner}: ${describe(data)}`,
        "foreign-data",
      );
      return;
    }
  }
}

/** Checks records a connection of `principal` received for `stream` (a batch or a fetch reply). */
export function checkRecords(
  findings: Findings,
  where: string,
  principal: string | undefined,
  stream: unknown,
  records: unknown,
): void {
  if (typeof stream !== "string") {
    findings.add("bad-reply", where, `records for a non-string stream ${describe(stream)}`);
    return;
  }
  let unpacked: EventRecord[];
  try {
    unpacked = unpackRecords(stream, records).records;
  } catch (error) {
    findings.add("bad-reply", where, `records do not unpack: ${String(error)}`);
    return;
  }
  if (!mayRead(principal, stream) && unpacked.length > 0) {
    findings.add(
      "leak",
      where,
      `principal ${principal ?? "(none)"} received ${unpacked.length} records of denied stream ${describe(stream)}`,
      "denied-records",
    );
  }
  for (const record of unpacked) {
    let data: unknown;
    try {
      data = decode(record.payload);
    } catch {
      continue; // not one of the publisher's events
    }
    if (!isRecord(data)) continue;
    const source = data[STREAM_FIELD];
    if (typeof source === "string" && (source !== stream || !mayRead(principal, source))) {
      findings.add(
        "leak",
        where,
        `principal ${principal ?? "(none)"} received an event of ${source} as ${describe(stream)} offset ${record.offset}`,
        "foreign-event",
      );
      return;
    }
  }
}

/** Checks a frame the server pushed to a connection of `principal` (no ack). */
export function checkServerFrame(
  findings: Findings,
  where: string,
  principal: string | undefined,
  event: string,
  frame: unknown,
): void {
  findings.outcome(
    event === "assured:error" || event === "assured:sub-error"
      ? `${event} ${codeOf(event === "assured:error" ? frame : (frame as { error?: unknown } | null)?.error)}`
      : event,
  );
  switch (event) {
    case "assured:subscribed":
      if (!isRecord(frame) || typeof frame.stream !== "string") {
        findings.add("bad-reply", where, `assured:subscribed ${describe(frame)}`);
      } else if (!mayRead(principal, frame.stream)) {
        findings.add(
          "leak",
          where,
          `principal ${principal ?? "(none)"} subscribed to denied stream ${describe(frame.stream)}`,
          "denied-subscribe",
        );
      }
      return;
    case "assured:batch":
      if (!isRecord(frame)) findings.add("bad-reply", where, `assured:batch ${describe(frame)}`);
      else checkRecords(findings, where, principal, frame.stream, frame.records);
      return;
    case "assured:sub-error":
      if (!isRecord(frame))
        findings.add("bad-reply", where, `assured:sub-error ${describe(frame)}`);
      else
        checkErrorData(
          findings,
          () => `${where} (sub-error ${describe(frame.stream, 60)})`,
          frame.error,
          "assured:sub-error",
        );
      return;
    case "assured:error":
      checkErrorData(findings, `${where} (assured:error)`, frame, "assured:error");
      return;
    case "assured:hello":
      if (!isRecord(frame) || typeof frame.dedupTtlMs !== "number") {
        findings.add("bad-reply", where, `assured:hello ${describe(frame)}`);
      }
      return;
    case "assured:unsubscribed":
      if (
        !isRecord(frame) ||
        typeof frame.stream !== "string" ||
        (frame.reason !== "server" && frame.reason !== "unauthorized")
      ) {
        findings.add("bad-reply", where, `assured:unsubscribed ${describe(frame)}`);
      }
      return;
    default:
      findings.add("bad-reply", where, `unexpected server event ${describe(event)}`);
  }
}

/** Checks the ack of a `fetch`, `heads` or `msg` request a connection of `principal` sent. */
export function checkReply(
  findings: Findings,
  where: string,
  principal: string | undefined,
  event: string,
  frame: unknown,
  reply: unknown,
): void {
  if (!isRecord(reply) || typeof reply.ok !== "boolean") {
    findings.add("bad-reply", where, `${event} reply ${describe(reply)} to ${describe(frame)}`);
    return;
  }
  // The fields as the server reads them: own properties, after the trip through JSON.
  const framed = { stream: sentField(frame, "stream"), id: sentField(frame, "id") };
  findings.outcome(
    `${event} ${reply.ok === true ? "ok" : reply.stored === true ? "stored-error" : codeOf(reply.error)}`,
  );
  if (event === "assured:msg") {
    checkMessageReply(findings, where, principal, framed, reply);
    return;
  }
  if (reply.ok === false) {
    checkErrorData(
      findings,
      () => `${where} (${event} ${describe(frame, 120)})`,
      reply.error,
      event,
    );
    return;
  }
  if (event === "assured:fetch") {
    checkRecords(findings, where, principal, framed.stream, reply.records);
  } else if (event === "assured:heads") {
    if (!isRecord(reply.heads)) {
      findings.add("bad-reply", where, `heads reply ${describe(reply)}`);
      return;
    }
    for (const stream of Object.keys(reply.heads)) {
      if (!mayRead(principal, stream)) {
        findings.add(
          "leak",
          where,
          `principal ${principal ?? "(none)"} got the head of denied stream ${describe(stream)}`,
          "denied-head",
        );
      }
    }
  }
}

function checkMessageReply(
  findings: Findings,
  where: string,
  principal: string | undefined,
  frame: { id: unknown },
  reply: Record<string, unknown>,
): void {
  if (typeof reply.id !== "string") {
    findings.add("bad-reply", where, `msg reply without an id: ${describe(reply)}`);
    return;
  }
  const handled = reply.ok === true || reply.stored === true;
  if (!handled) {
    checkErrorData(
      findings,
      () => `${where} (msg ${describe(frame, 160)})`,
      reply.error,
      "assured:msg",
    );
    const code = isRecord(reply.error) ? reply.error.code : undefined;
    const id = frame.id;
    // A conflict means this principal used the id before with another payload; if it never
    // did, the server compared against another principal's message.
    if (
      code === "IDEMPOTENCY_CONFLICT" &&
      typeof id === "string" &&
      (principal === undefined || findings.sentCount(principal, id) <= 1)
    ) {
      findings.add(
        "leak",
        where,
        `principal ${principal ?? "(none)"} got IDEMPOTENCY_CONFLICT for id ${describe(id)} it never used before`,
        "conflict-across-principals",
      );
    }
    return;
  }
  if (principal === undefined) {
    findings.add(
      "leak",
      where,
      "a message was handled for a connection without a principal",
      "no-principal",
    );
  }
  if (!(reply.payload instanceof Uint8Array)) {
    findings.add("bad-reply", where, `msg reply payload ${describe(reply.payload)}`);
    return;
  }
  let data: unknown;
  try {
    data = decode(reply.payload);
  } catch (error) {
    findings.add("bad-reply", where, `msg reply payload does not decode: ${String(error)}`);
    return;
  }
  checkOwnData(findings, where, principal, data);
}
