import { AssuredError, type EventRecord } from "@assured/core";
import { readIfExists } from "./durable-file.js";

/**
 * One stream's log as stored in its JSON-lines file: a header line
 * `{ "stream", "epoch", "base" }` (base = the offset before the first record in the file),
 * then one line per event with the payload in base64.
 */
export interface StreamLog {
  stream: string;
  epoch: string;
  base: number;
  records: EventRecord[];
  /** The last line was cut short (a crash mid-append); the file must be rewritten. */
  torn: boolean;
}

interface EventLine {
  offset: number;
  id: string;
  name: string;
  payload: string;
  time: number;
}

/** The header line of a log. */
export function headerLine(log: Pick<StreamLog, "stream" | "epoch" | "base">): string {
  return `${JSON.stringify({ stream: log.stream, epoch: log.epoch, base: log.base })}\n`;
}

/** One event line. */
export function eventLine(record: EventRecord): string {
  const line: EventLine = {
    offset: record.offset,
    id: record.id,
    name: record.name,
    payload: Buffer.from(
      record.payload.buffer,
      record.payload.byteOffset,
      record.payload.byteLength,
    ).toString("base64"),
    time: record.time,
  };
  return `${JSON.stringify(line)}\n`;
}

function corrupt(path: string, what: string): AssuredError {
  return new AssuredError(
    "STORE_CORRUPT",
    `${path}: ${what}. Restore the file or reset the stream.`,
  );
}

function parseLine<T>(path: string, line: string): T {
  try {
    return JSON.parse(line) as T;
  } catch {
    throw corrupt(path, "a line is not valid JSON");
  }
}

/** Loads a stream's log; undefined when the stream has no file yet. */
export async function loadStreamLog(path: string, stream: string): Promise<StreamLog | undefined> {
  const text = await readIfExists(path);
  if (text === undefined) return undefined;
  const lines = text.split("\n");
  const torn = lines.at(-1) !== "";
  if (torn)
    lines.pop(); // an append that never completed (and never resolved)
  else lines.pop(); // the empty string after the final newline
  const header = parseLine<Pick<StreamLog, "stream" | "epoch" | "base"> | null>(
    path,
    lines.shift() ?? "null",
  );
  if (header === null || header.stream !== stream)
    throw corrupt(path, "the header names another stream");
  const records = lines.map((line, index): EventRecord => {
    const e = parseLine<EventLine>(path, line);
    if (e.offset !== header.base + index + 1)
      throw corrupt(path, `offset ${e.offset} is out of sequence`);
    const payload = new Uint8Array(Buffer.from(e.payload, "base64"));
    return { stream, offset: e.offset, id: e.id, name: e.name, payload, time: e.time };
  });
  return { ...header, records, torn };
}
