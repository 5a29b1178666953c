/**
 * The long fuzz profile: `pnpm fuzz` at the repository root (or in e2e). Runs for minutes and
 * prints progress and the report; exits 1 when the server crashed, leaked, stalled, answered
 * with an untyped or INTERNAL error, left a request unanswered or failed the well-behaved
 * client. Configure with environment variables or flags (flags win):
 *
 *   FUZZ_SECONDS / --seconds=180     how long the hostile drivers run
 *   FUZZ_SEED    / --seed=N          seed of every generated session (default: random, printed)
 *   FUZZ_STORE   / --store=memory    memory | sqlite (a temporary file)
 *   FUZZ_PEERS   / --peers=6         concurrent hostile socket.io-client peers
 *   FUZZ_RAW     / --raw=3           concurrent raw engine.io/WebSocket peers
 *   FUZZ_HTTP    / --http=1          concurrent HTTP long-polling probes
 *   FUZZ_HEAP_MB / --heap-mb=1024    V8 heap limit of the server process
 *   FUZZ_SETTLE_MS / --settle-ms=12000  idle time before the final memory measurement
 *   FUZZ_JSON    / --json=path       also write the whole report as JSON
 *   FUZZ_SELFTEST / --selftest=oom|leak  break the server on purpose: the run must fail
 *
 * Run with `node --conditions=@assured/source --import tsx e2e/src/fuzz/run-long.ts`.
 */
import { writeFileSync } from "node:fs";
import { runFuzz } from "./driver.js";
import { formatReport } from "./report.js";

function option(name: string, env: string): string | undefined {
  const prefix = `--${name}=`;
  const flag = process.argv.slice(2).find((arg) => arg.startsWith(prefix));
  return flag === undefined ? process.env[env] : flag.slice(prefix.length);
}

function integer(name: string, env: string, fallback: number): number {
  const text = option(name, env);
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value))
    throw new Error(`${env} / --${name} must be an integer, got ${text}`);
  return value;
}

const seconds = integer("seconds", "FUZZ_SECONDS", 180);
const seed = integer("seed", "FUZZ_SEED", Math.floor(Math.random() * 2 ** 31));
const store = option("store", "FUZZ_STORE") ?? "memory";
if (store !== "memory" && store !== "sqlite")
  throw new Error(`FUZZ_STORE must be memory or sqlite`);
const json = option("json", "FUZZ_JSON");
const selfTest = option("selftest", "FUZZ_SELFTEST");
if (selfTest !== undefined && selfTest !== "oom" && selfTest !== "leak") {
  throw new Error("FUZZ_SELFTEST must be oom or leak");
}

console.log(`fuzz: FUZZ_SEED=${seed} FUZZ_SECONDS=${seconds} FUZZ_STORE=${store}`);
const report = await runFuzz({
  seed,
  durationMs: seconds * 1_000,
  socketIoPeers: integer("peers", "FUZZ_PEERS", 6),
  rawPeers: integer("raw", "FUZZ_RAW", 3),
  httpProbes: integer("http", "FUZZ_HTTP", 1),
  store,
  publishIntervalMs: 50,
  maxOldSpaceMb: integer("heap-mb", "FUZZ_HEAP_MB", 1024),
  settleMs: integer("settle-ms", "FUZZ_SETTLE_MS", 12_000),
  ...(selfTest === undefined ? {} : { selfTest }),
  log: (line) => console.log(line),
});
console.log(formatReport(report));
if (json !== undefined) writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);

const { findings } = report;
const failed =
  report.crashes > 0 ||
  report.leaks > 0 ||
  !report.good.served ||
  findings.stall > 0 ||
  findings["internal-error"] > 0 ||
  findings["untyped-error"] > 0 ||
  findings.unanswered > 0;
process.exit(failed ? 1 : 0);
