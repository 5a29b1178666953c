#!/usr/bin/env node
// The packaging test (a step of `pnpm test`, after the build): installs the packages as a user
// would get them from the registry and uses them outside the workspace.
//   1. `pnpm release:dry-run`: packs every published package and checks each tarball.
//   2. A fresh project outside the workspace: the cached registry base (consumer-base.mjs)
//      plus the tarballs, with `npm install` (a peer range the registry cannot satisfy fails).
//   3. A strict TypeScript app type-checked twice: moduleResolution nodenext and bundler.
//   4. Runs it: every package's entry point loads; a server and a client on SQLite — a message
//      handled once, the event it publishes delivered.
//   5. `npx assured-conformance` on the memory stores of the packed @assured/core: exits 0.
// Exits non-zero at the first failing step, naming it. `--keep` keeps the project directory
// for inspection.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { consumerBase, copyBase, npmFlags } from "./release/consumer-base.mjs";
import { root } from "./release/published-packages.mjs";

const fixtures = join(root, "scripts", "package-test");
const work = mkdtempSync(join(tmpdir(), "assured-package-test-"));
const packs = join(work, "packs");
const app = join(work, "app");
const started = Date.now();

function seconds(since) {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/** Runs a command of a step; a failure ends the test with the step's name. */
function run(step, command, args, options = {}) {
  const since = Date.now();
  try {
    execFileSync(command, args, { stdio: "inherit", timeout: 300_000, ...options });
  } catch (error) {
    throw new Error(`package test FAILED at: ${step} (${command} ${args.join(" ")})`, {
      cause: error,
    });
  }
  console.log(`package test: ${step} — ok in ${seconds(since)}`);
}

try {
  run(
    "pack and check the tarballs",
    "pnpm",
    ["run", "--silent", "release:dry-run", "--out", packs],
    {
      cwd: root,
    },
  );

  const since = Date.now();
  const base = consumerBase();
  console.log(
    `package test: registry dependencies — ${base.cached ? "cached" : "installed"} in ${seconds(since)} (${base.dir})`,
  );
  const copying = Date.now();
  mkdirSync(app);
  copyBase(base.dir, app);
  console.log(`package test: copied the registry dependencies in ${seconds(copying)}`);
  const tarballs = readdirSync(packs)
    .filter((file) => file.endsWith(".tgz"))
    .map((file) => join(packs, file));
  run(
    "npm install the tarballs",
    "npm",
    ["install", "--prefer-offline", "--ignore-scripts", ...npmFlags, ...tarballs],
    {
      cwd: app,
    },
  );
  for (const file of readdirSync(fixtures)) copyFileSync(join(fixtures, file), join(app, file));

  const tsc = join(app, "node_modules", "typescript", "bin", "tsc");
  run(
    "type-check (moduleResolution nodenext) and build",
    "node",
    [tsc, "-p", "tsconfig.nodenext.json"],
    { cwd: app },
  );
  run("type-check (moduleResolution bundler)", "node", [tsc, "-p", "tsconfig.bundler.json"], {
    cwd: app,
  });
  run("load every package", "node", ["build/every-package.js"], { cwd: app, timeout: 60_000 });
  run("server + client round trip on SQLite", "node", ["build/app.js"], {
    cwd: app,
    timeout: 60_000,
  });
  run(
    "npx assured-conformance on the memory stores",
    "npx",
    ["--no-install", "assured-conformance", "memory-stores.ts", "--runs", "5"],
    { cwd: app },
  );
  console.log(`\npackage test: passed in ${seconds(started)}`);
} catch (error) {
  console.error(`\n${error.message}`);
  process.exitCode = 1;
} finally {
  if (process.argv.includes("--keep")) console.log(`package test: kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
