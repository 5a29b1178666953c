#!/usr/bin/env node
// Runs the vitest suite of every workspace package that has a `test` script, one package at a
// time (the end-to-end suites are timing-sensitive on a 2-core machine), and prints one summary
// line: "Tests: N passed, N failed, N skipped". Exits non-zero if any suite failed or no test ran.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const folders = ["packages", "examples", "tools"].flatMap((group) =>
  existsSync(join(root, group))
    ? readdirSync(join(root, group)).map((name) => join(group, name))
    : [],
);
folders.push("bench", "e2e");
const only = process.argv.slice(2);

const outDir = mkdtempSync(join(tmpdir(), "assured-tests-"));
const totals = { passed: 0, failed: 0, skipped: 0 };
const failedSuites = [];

for (const folder of folders) {
  const manifestPath = join(root, folder, "package.json");
  if (!existsSync(manifestPath)) continue;
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  if (!manifest.scripts?.test) continue;
  if (only.length > 0 && !only.some((o) => manifest.name.includes(o))) continue;
  const report = join(outDir, `${manifest.name.replace(/[^a-z0-9]+/gi, "_")}.json`);
  console.log(`\n=== ${manifest.name} ===`);
  const started = Date.now();
  const run = spawnSync(
    "pnpm",
    [
      "exec",
      "vitest",
      "run",
      "--reporter=default",
      "--reporter=json",
      `--outputFile.json=${report}`,
    ],
    { cwd: join(root, folder), stdio: "inherit" },
  );
  let counts = { passed: 0, failed: 0, skipped: 0 };
  if (existsSync(report)) {
    const json = JSON.parse(readFileSync(report, "utf8"));
    counts = {
      passed: json.numPassedTests ?? 0,
      failed: json.numFailedTests ?? 0,
      skipped: (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0),
    };
  }
  if (run.status !== 0 && counts.failed === 0) counts.failed = 1; // a crash or a failed setup
  totals.passed += counts.passed;
  totals.failed += counts.failed;
  totals.skipped += counts.skipped;
  if (counts.failed > 0) failedSuites.push(manifest.name);
  console.log(
    `--- ${manifest.name}: ${counts.passed} passed, ${counts.failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

if (failedSuites.length > 0) console.log(`\nFailed: ${failedSuites.join(", ")}`);
console.log(`\nTests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed > 0 || totals.passed === 0 ? 1 : 0);
