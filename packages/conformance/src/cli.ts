#!/usr/bin/env node
import { parseArgs } from "node:util";
import { isAssuredError } from "@assured/core";
import type { CaseOutcome, GroupOutcome } from "./case-outcomes.js";
import { formatSummary } from "./format-summary.js";
import { runConformance } from "./run-conformance.js";

const USAGE = `Usage: assured-conformance <module> [options]

Runs the Assured store conformance suite against the harnesses a module exports:
  export const eventStore: EventStoreHarness  (create, optional reopen and destroy)
  export const dedupStore: DedupStoreHarness
Both, or one and "omit" saying why the other is left out, e.g.
  export const omit = { dedupStore: "this package only ships an event store" };
(or a default export { eventStore, dedupStore, omit }; optional "name" and "options").
The module may be JavaScript or TypeScript. A line per group of cases shows progress.

Options:
  --strict             fail when any case is skipped
  --timeout <ms>       timeout of each case (default 30000)
  --runs <n>           random operation sequences per model-based property (default 25)
  --seed <n>           seed of the model-based properties, to replay a reported failure
  --grep <pattern>     run only the cases whose name matches this regular expression
                       (suite, group and case names joined by spaces), e.g. "reads|reset"
  --conditions <name>  extra export condition for resolving imports (repeatable)
  --verbose            print every case as it finishes
  --json               print the summary as JSON instead of text
  -h, --help           show this help

Exit status: 0 when every case passed (skips allowed unless --strict), 1 when a case failed,
a case was skipped under --strict, or the module exports no usable harness, 2 on a usage error.`;

function fail(message: string, code: number): never {
  process.stderr.write(`assured-conformance: ${message}\n`);
  process.exit(code);
}

const CASE_MARKS: Record<CaseOutcome["state"], string> = { passed: "✓", failed: "✗", skipped: "-" };

/** One progress line per finished group of cases. */
function groupLine(group: GroupOutcome): string {
  const mark = group.failed > 0 ? "✗" : group.skipped > 0 ? "-" : "✓";
  return `${mark} ${group.name}: ${group.passed} passed, ${group.failed} failed, ${group.skipped} skipped\n`;
}

/** An integer option of at least `min`, or undefined when not given (exit 2 when malformed). */
function integerOption(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min)
    fail(`${flag} must be an integer ≥ ${min}, got ${value}.`, 2);
  return n;
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) fail(`expected one module path.\n\n${USAGE}`, 2);
  const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutMs !== undefined && !(Number.isSafeInteger(timeoutMs) && timeoutMs > 0)) {
    fail(`--timeout must be a positive integer of milliseconds, got ${values.timeout}.`, 2);
  }
  const runs = integerOption(values.runs, "--runs", 1);
  const seed = integerOption(values.seed, "--seed", -(2 ** 31));
  // Progress goes to stderr under --json, so stdout stays one JSON document.
  const progress = values.json ? process.stderr : process.stdout;
  try {
    const summary = await runConformance({
      module: positionals[0]!,
      conditions: values.conditions ?? [],
      strict: values.strict ?? false,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(runs === undefined ? {} : { runs }),
      ...(seed === undefined ? {} : { seed }),
      ...(values.grep === undefined ? {} : { grep: values.grep }),
      onGroup: (group) => progress.write(groupLine(group)),
      ...(values.verbose
        ? { onCase: (c) => progress.write(`  ${CASE_MARKS[c.state]} ${c.name}\n`) }
        : {}),
    });
    if (!values.json) progress.write("\n");
    process.stdout.write(
      values.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`,
    );
    return summary.ok ? 0 : 1;
  } catch (error) {
    if (isAssuredError(error, "INVALID_ARGUMENT")) fail(error.message, 2);
    throw error;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      strict: { type: "boolean" },
      timeout: { type: "string" },
      runs: { type: "string" },
      seed: { type: "string" },
      grep: { type: "string" },
      conditions: { type: "string", multiple: true },
      verbose: { type: "boolean" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) =>
    fail(error instanceof Error ? (error.stack ?? error.message) : String(error), 1),
);
