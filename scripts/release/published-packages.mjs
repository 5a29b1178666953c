// The workspace packages that are published: every non-private package under packages/.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The repository root (this file is scripts/release/published-packages.mjs). */
export const root = new URL("../..", import.meta.url).pathname;

/** Each published package as { dir, manifest }, in directory order. */
export function publishedPackages() {
  const base = join(root, "packages");
  return readdirSync(base)
    .map((name) => join(base, name))
    .filter((dir) => existsSync(join(dir, "package.json")))
    .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
    .filter(({ manifest }) => manifest.private !== true);
}
