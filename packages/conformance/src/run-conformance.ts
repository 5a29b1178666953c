import { existsSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { extname, join, relative, resolve } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { AssuredError } from "@assured/core";
import { startVitest } from "vitest/node";
import {
  type CaseOutcome,
  CaseOutcomeCollector,
  type ConformanceSummary,
  type GroupOutcome,
} from "./case-outcomes.js";
import { DEFAULT_CASE_TIMEOUT_MS, type SuiteOptions } from "./harness.js";

/** Options of `runConformance`. */
export interface RunConformanceOptions {
  /** Path of the harness module (.js, .mjs, .ts, .mts), relative to `cwd`. */
  module: string;
  /** Base directory for a relative `module`. Default: `process.cwd()`. */
  cwd?: string;
  /** Extra export conditions for resolving the module's imports (like node's `--conditions`). */
  conditions?: string[];
  /** Timeout of each case in milliseconds. Default 30,000. */
  timeoutMs?: number;
  /** Runs of each model-based property (overrides the module's `options.runs`). */
  runs?: number;
  /** Seed of the model-based properties (overrides the module's `options.seed`). */
  seed?: number;
  /**
   * Runs only the cases whose name matches this regular expression (vitest's
   * `testNamePattern`; the name it matches is the suite, group and case names joined by
   * spaces), e.g. `"reads|reset \\(G6"`. Cases left out are neither run nor reported.
   * Default: every case.
   */
  grep?: string;
  /** Fail the run (`ok: false`) when any case was skipped. Default false. */
  strict?: boolean;
  /** Called as each case finishes, for progress output. */
  onCase?: (outcome: CaseOutcome) => void;
  /** Called as each group of cases finishes, with its totals, for progress output. */
  onGroup?: (outcome: GroupOutcome) => void;
}

/** Vite's default resolve conditions, which a `resolve.conditions` setting replaces. */
const VITE_SERVER_CONDITIONS = ["module", "node", "development|production"];
const VITE_CLIENT_CONDITIONS = ["module", "browser", "development|production"];

/** Adds extra export conditions to Vite's defaults (none given: Vite's defaults as they are). */
function resolveConditions(conditions: readonly string[]) {
  if (conditions.length === 0) return {};
  return {
    resolve: { conditions: [...conditions, ...VITE_CLIENT_CONDITIONS] },
    ssr: { resolve: { conditions: [...conditions, ...VITE_SERVER_CONDITIONS] } },
  };
}

const MODULE_EXTENSIONS = [".js", ".mjs", ".cjs", ".ts", ".mts", ".cts"];

/** The kit's entry file next to this one: `index.ts` when run from source, `index.js` when built. */
function kitEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return join(here, "..", `index${extname(here) === ".ts" ? ".ts" : ".js"}`);
}

function checkModule(path: string, given: string): void {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `Harness module not found: ${given} (looked at ${path}).`,
    );
  }
  if (!MODULE_EXTENSIONS.includes(extname(path))) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `Harness module ${given} must be a JavaScript or TypeScript file (${MODULE_EXTENSIONS.join(", ")}).`,
    );
  }
}

/** The suite options the run sets over the module's own. */
function overridesOf(options: RunConformanceOptions): SuiteOptions {
  const overrides: SuiteOptions = {};
  if (options.runs !== undefined) overrides.runs = options.runs;
  if (options.seed !== undefined) overrides.seed = options.seed;
  return overrides;
}

/** The `grep` option as a RegExp; `INVALID_ARGUMENT` when it is not a regular expression. */
function grepPattern(grep: string | undefined): RegExp | undefined {
  if (grep === undefined) return undefined;
  try {
    return new RegExp(grep);
  } catch (error) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `grep must be a regular expression matching case names, got ${JSON.stringify(grep)}: ${(error as Error).message}`,
    );
  }
}

/** Discards what vitest writes (the collector reports instead). */
function sink(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

/**
 * Runs the conformance suites for every harness the module exports (`eventStore`,
 * `dedupStore`), with vitest, and returns what passed, failed and was skipped. Throws
 * `INVALID_ARGUMENT` when the module does not exist; a module without a usable harness comes
 * back as a summary with `errors` and `ok: false`.
 *
 * @example
 * const summary = await runConformance({ module: "./my-store.conformance.ts" });
 * if (!summary.ok) process.exitCode = 1;
 */
export async function runConformance(options: RunConformanceOptions): Promise<ConformanceSummary> {
  const cwd = options.cwd ?? process.cwd();
  const modulePath = resolve(cwd, options.module);
  checkModule(modulePath, options.module);
  const grep = grepPattern(options.grep);
  const label = relative(cwd, modulePath) || modulePath;
  const dir = await mkdtemp(join(tmpdir(), "assured-conformance-"));
  const testFile = join(dir, "conformance.test.mjs");
  await writeFile(
    testFile,
    [
      `import * as harnessModule from ${JSON.stringify(modulePath)};`,
      `import { describeHarnessModule } from ${JSON.stringify(kitEntry())};`,
      `describeHarnessModule(harnessModule, ${JSON.stringify(label)}, ${JSON.stringify(overridesOf(options))});`,
      "",
    ].join("\n"),
  );
  const collector = new CaseOutcomeCollector(options.onCase, options.onGroup, grep !== undefined);
  const timeout = options.timeoutMs ?? DEFAULT_CASE_TIMEOUT_MS;
  const exitCode = process.exitCode;
  try {
    const vitest = await startVitest(
      "test",
      [],
      {
        root: dir,
        config: false,
        watch: false,
        include: ["conformance.test.mjs"],
        reporters: [collector],
        testTimeout: timeout,
        hookTimeout: timeout,
        ...(grep === undefined ? {} : { testNamePattern: grep }),
      },
      resolveConditions(options.conditions ?? []),
      { stdout: sink(), stderr: sink() },
    );
    await vitest.close();
  } finally {
    process.exitCode = exitCode;
    await rm(dir, { recursive: true, force: true });
  }
  if (grep !== undefined && collector.cases.length === 0 && collector.errors.length === 0) {
    collector.errors.push(`No case name matches grep ${JSON.stringify(options.grep)}.`);
  }
  return collector.summary(label, options.strict ?? false);
}
