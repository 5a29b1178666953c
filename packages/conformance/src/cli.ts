#!/usr/bin/env node
import { parseArgs } from "node:util";
import { isAssuredError } from "@assured/core";
import { formatSummary } from "./format-summary.js";
import { runConformance } from "./run-conformance.js";

const USAGE = `Usage: assured-conformance <module> [options]

Runs the Assured store conformance suite against the harnesses a module exports:
  export const eventStore: EventStoreHarness  (create, optional reopen and destroy)
  export const dedupStore: DedupStoreHarness
(either or both; or a default export { eventStore, dedupStore }; optional "name" and "options").
The module may be JavaScript or TypeScript.

Options:
  --timeout <ms>       timeout of each case (default 30000)
  --conditions <name>  extra export condition for resolving imports (repeatable)
  --verbose            print every case as it finishes
  --json               print the summary as JSON instead of text
  -h, --help           show this help

Exit status: 0 when every case passed, 1 when a case failed or the module exports no usable
harness, 2 on a usage error.`;

function fail(message: string, code: number): never {
  process.stderr.write(`assured-conformance: ${message}\n`);
  process.exit(code);
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
  try {
    const summary = await runConformance({
      module: positionals[0]!,
      conditions: values.conditions ?? [],
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(values.verbose
        ? {
            onCase: (c) =>
              process.stdout.write(
                `${c.state === "passed" ? "✓" : c.state === "failed" ? "✗" : "-"} ${c.name}\n`,
              ),
          }
        : {}),
    });
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
      timeout: { type: "string" },
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
