#!/usr/bin/env node
// `pnpm release:dry-run [--out <dir>]`: packs every published package as `pnpm release`
// would publish it and checks each tarball (dist/ and every entry point shipped, no tests, no
// workspace: or catalog: ranges left, every import declared, README links alive). Publishes
// nothing. The tarballs stay in <dir> (default: a new temporary directory) for inspection.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { packPackages } from "./release/pack-packages.mjs";

const { values } = parseArgs({ options: { out: { type: "string" } } });
const outDir = values.out
  ? resolve(values.out)
  : mkdtempSync(join(tmpdir(), "assured-release-dry-run-"));
const packed = packPackages(outDir);
for (const { name, version, problems } of packed) {
  console.log(`${problems.length === 0 ? "ok  " : "FAIL"} ${name}@${version}`);
  for (const problem of problems) console.log(`       ${problem}`);
}
const failed = packed.filter(({ problems }) => problems.length > 0).length;
console.log(
  `\n${packed.length} tarballs in ${outDir}; ${failed} with problems. Nothing published.`,
);
process.exit(failed > 0 ? 1 : 0);
