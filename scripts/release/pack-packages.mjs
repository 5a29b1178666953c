// Packs every published package with `pnpm pack` (which rewrites workspace: and catalog:
// ranges, as `pnpm publish` does) and checks each tarball (see check-tarball.mjs).
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { checkTarball } from "./check-tarball.mjs";
import { publishedPackages } from "./published-packages.mjs";

/**
 * Packs each published package into `outDir` and checks it. Returns
 * [{ name, version, tarball, problems }]; a package whose tarball is fine has no problems
 * (`tarball` is undefined when `pnpm pack` failed).
 */
export function packPackages(outDir) {
  mkdirSync(outDir, { recursive: true });
  return publishedPackages().map(({ dir, manifest }) => {
    const packed = { name: manifest.name, version: manifest.version };
    const run = spawnSync("pnpm", ["pack", "--json", "--pack-destination", outDir], {
      cwd: dir,
      encoding: "utf8",
    });
    if (run.status !== 0) {
      const reason = `${run.stdout}${run.stderr}`.trim() || `exit status ${run.status}`;
      return { ...packed, tarball: undefined, problems: [`pnpm pack failed: ${reason}`] };
    }
    const { filename } = JSON.parse(run.stdout);
    return { ...packed, tarball: filename, problems: checkTarball(filename) };
  });
}
