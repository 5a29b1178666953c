// The registry half of the packaging test's consumer project: the peers and tools an
// application installs next to @assured/* (socket.io, the store drivers, typescript, vitest),
// at the workspace catalog's ranges. better-sqlite3 compiles from source on this machine (many
// minutes), so the base is installed without install scripts and better-sqlite3 is pinned to
// the workspace's version, whose binary (built by `pnpm install`) is copied in. The installed
// base is cached under ~/.cache/assured/package-test, keyed by the dependency list, Node's
// version and the platform; each run copies it into a fresh project and installs only the
// tarballs on top.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { root } from "./published-packages.mjs";

const BASE_PACKAGES = [
  "socket.io",
  "socket.io-client",
  "better-sqlite3",
  "@types/better-sqlite3",
  "ioredis",
  "mongodb",
  "pg",
  "@types/pg",
  "typescript",
  "@types/node",
  "vitest",
];

/** The cache directory of the test runs, shared with scripts/ensure-tools.sh. */
export const cacheDir = join(homedir(), ".cache", "assured");

/** npm's flags for every install of the test: its own download cache, no audit or ads. */
export const npmFlags = ["--no-audit", "--no-fund", "--cache", join(cacheDir, "npm")];

/** The catalog ranges of pnpm-workspace.yaml (`name: range` lines under `catalog:`). */
function catalog() {
  const yaml = readFileSync(join(root, "pnpm-workspace.yaml"), "utf8");
  const block = yaml.split(/^catalog:\s*$/m)[1]?.split(/^\S/m)[0] ?? "";
  const ranges = {};
  for (const [, name, range] of block.matchAll(/^\s+"?([^":\s]+)"?:\s*(\S+)\s*$/gm)) {
    ranges[name] = range;
  }
  return ranges;
}

/** The workspace's better-sqlite3 (the one `pnpm install` built): its directory and version. */
function workspaceSqlite() {
  const require = createRequire(join(root, "packages", "store-sqlite", "package.json"));
  const manifest = require.resolve("better-sqlite3/package.json");
  const version = JSON.parse(readFileSync(manifest, "utf8")).version;
  return { dir: dirname(manifest), version };
}

function baseManifest() {
  const ranges = catalog();
  const dependencies = {};
  for (const name of BASE_PACKAGES) {
    if (!ranges[name]) throw new Error(`${name} is not in the pnpm catalog (pnpm-workspace.yaml)`);
    dependencies[name] = ranges[name];
  }
  // The workspace's exact version, so its compiled binary fits (see copySqliteBinary).
  dependencies["better-sqlite3"] = workspaceSqlite().version;
  return { name: "assured-package-test", private: true, type: "module", dependencies };
}

/** Puts the workspace's compiled better-sqlite3 binary into the base (installed without scripts). */
function copySqliteBinary(base) {
  const from = join(workspaceSqlite().dir, "build", "Release", "better_sqlite3.node");
  const to = join(base, "node_modules", "better-sqlite3", "build", "Release");
  mkdirSync(to, { recursive: true });
  cpSync(from, join(to, "better_sqlite3.node"));
}

/**
 * The cached base project's directory, installing it first when it is missing (npm without
 * install scripts, plus the workspace's better-sqlite3 binary). Returns { dir, cached }.
 */
export function consumerBase() {
  const manifest = baseManifest();
  const key = createHash("sha256")
    .update(JSON.stringify([manifest, process.version, process.platform, process.arch]))
    .digest("hex")
    .slice(0, 16);
  const dir = join(cacheDir, "package-test", key);
  if (existsSync(join(dir, "node_modules", ".package-lock.json"))) return { dir, cached: true };
  const building = `${dir}.partial-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  writeFileSync(join(building, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  execFileSync("npm", ["install", "--ignore-scripts", ...npmFlags], {
    cwd: building,
    stdio: "inherit",
  });
  copySqliteBinary(building);
  rmSync(dir, { recursive: true, force: true });
  renameSync(building, dir);
  return { dir, cached: false };
}

/** Copies the base project (manifest, lockfile, node_modules) into `target`. */
export function copyBase(base, target) {
  for (const entry of ["package.json", "package-lock.json", "node_modules"]) {
    cpSync(join(base, entry), join(target, entry), { recursive: true, verbatimSymlinks: true });
  }
}
