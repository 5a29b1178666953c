/**
 * The `clock-jump` fault: one node's wall clock jumps forward or backward (a second to an hour)
 * for a while, then comes back. It is a real clock change as the node process sees it: nodes run
 * under libfaketime (`LD_PRELOAD`), which makes every read of CLOCK_REALTIME (`Date.now`,
 * `new Date`, `gettimeofday`, `time`) return the real time plus the offset written in the node's
 * clock file. The monotonic clock is left alone (`FAKETIME_DONT_FAKE_MONOTONIC=1`), so libuv's
 * timers, Socket.IO's heartbeat and `performance.now` keep running as on a real machine whose
 * wall clock was stepped (by NTP, an operator or a VM resume).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SeededRandom } from "./seeded-random.js";

/** The environment variable naming a node's clock file (the node reads its offset there). */
export const CLOCK_FILE_ENV = "ASSURED_CLOCK_FILE";

/** Where Debian's `libfaketime` package puts the library (`apt-get install faketime`). */
const LIBFAKETIME_PATHS = [
  "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/faketime/libfaketime.so.1",
  "/usr/local/lib/faketime/libfaketime.so.1",
];

/**
 * The libfaketime library to preload: `ASSURED_LIBFAKETIME` when set, else the first of the
 * usual install paths that exists; undefined when it is missing or `ASSURED_LIBFAKETIME=off`.
 */
export function findLibfaketime(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const given = env.ASSURED_LIBFAKETIME;
  if (given === "off") return undefined;
  if (given !== undefined && given !== "") return given;
  return LIBFAKETIME_PATHS.find((path) => existsSync(path));
}

/** The clock file of the node `name` on `port` (the same across the node's restarts). */
export function clockFileOf(node: { name: string; port: number }): string {
  return join(tmpdir(), "assured-clocks", `${node.name}-${node.port}`);
}

/**
 * The environment that runs a process under libfaketime with the offset in `file`. The file is
 * read again on every clock read (`FAKETIME_NO_CACHE`: about 2.5 µs a read), so a jump is seen
 * at once and the node's own `trueNow` agrees with it.
 */
export function fakeClockEnv(library: string, file: string, env: NodeJS.ProcessEnv) {
  const preload = env.LD_PRELOAD ? `${library} ${env.LD_PRELOAD}` : library;
  return {
    LD_PRELOAD: preload,
    FAKETIME_TIMESTAMP_FILE: file,
    FAKETIME_NO_CACHE: "1",
    FAKETIME_DONT_FAKE_MONOTONIC: "1",
    [CLOCK_FILE_ENV]: file,
  };
}

/** Writes `offsetMs` (whole seconds, as libfaketime reads it: `+600`, `-300`) into `file`, atomically. */
export function writeClockOffset(file: string, offsetMs: number): void {
  const seconds = Math.round(offsetMs / 1000);
  mkdirSync(join(file, ".."), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${seconds >= 0 ? "+" : ""}${seconds}\n`);
  renameSync(temporary, file);
}

/** The offset in `file`, in ms (0 when there is no file). */
export function readClockOffsetMs(file: string | undefined): number {
  if (file === undefined) return 0;
  try {
    const seconds = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    return Number.isFinite(seconds) ? seconds * 1000 : 0;
  } catch {
    return 0;
  }
}

/** The real time in a process under libfaketime (its `Date.now()` less its offset); for logs. */
export function trueNow(env: NodeJS.ProcessEnv = process.env): number {
  return Date.now() - readClockOffsetMs(env[CLOCK_FILE_ENV]);
}

/** One seeded clock jump: the offset (± 1 s to 1 h, log-uniform) and how long it lasts. */
export function drawClockJump(random: SeededRandom): { offsetMs: number; ms: number } {
  const seconds = Math.max(1, Math.round(Math.exp(random.next() * Math.log(3_600))));
  const sign = random.next() < 0.5 ? -1 : 1;
  return { offsetMs: sign * seconds * 1000, ms: random.int(1_000, 6_000) };
}

/**
 * Moves the clock of the node whose file is `file` by `offsetMs` for `ms`, then back. The node
 * need not be running: a node restarted meanwhile starts with the jumped clock, as a restarted
 * process on that machine would. An overlapping jump of the same node is left in place.
 */
export async function jumpClock(file: string, jump: { offsetMs: number; ms: number }) {
  writeClockOffset(file, jump.offsetMs);
  await new Promise((resolve) => setTimeout(resolve, jump.ms));
  if (readClockOffsetMs(file) === Math.round(jump.offsetMs / 1000) * 1000)
    writeClockOffset(file, 0);
}
