// Checks one package tarball as a registry would serve it: built code present, every entry
// point shipped, no tests, no unrewritten workspace ranges, every import declared, and a
// README without links into the repository (they are dead on the registry).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";

const DEPENDENCY_FIELDS = ["dependencies", "peerDependencies", "optionalDependencies"];
const TEST_FILE = /(^|\/)(test|tests|__tests__|fixtures)\/|\.(test|spec)\.[cm]?[jt]sx?$/;
// Static imports and re-exports start a line in tsc output (a minified bundle has none of its
// own: its dependencies are inlined); dynamic imports and `import("x")` types can be anywhere.
const IMPORT =
  /^(?:import|export)\b[^;]*?\bfrom\s*["']([^"'\s]+)["']|\bimport\(\s*["']([^"'\s]+)["']\s*\)|^import\s*["']([^"'\s]+)["']/gm;

/** Every string target of an `exports` value (conditions and subpaths flattened). */
function exportTargets(value) {
  if (typeof value === "string") return [value];
  if (value === null || typeof value !== "object") return [];
  return Object.values(value).flatMap(exportTargets);
}

/** The package a bare specifier names (`@scope/name` or `name`); undefined for relative ones. */
function packageOf(specifier) {
  if (specifier.startsWith(".") || specifier.startsWith("/")) return undefined;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/**
 * The package-relative file a relative import of `file` loads (a declaration file's
 * `./x.js` is `./x.d.ts`); undefined for bare specifiers.
 */
function relativeTarget(file, specifier) {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;
  const target = posix.join(posix.dirname(file), specifier);
  return file.endsWith(".d.ts") ? target.replace(/\.js$/, ".d.ts") : target;
}

function isBuiltin(name) {
  return name.startsWith("node:") || builtinModules.includes(name);
}

/** The problems of the package in the extracted `dir`, given its file list (package-relative). */
function problemsOf(dir, files) {
  const problems = [];
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const shipped = new Set(files);
  for (const field of DEPENDENCY_FIELDS) {
    for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
      if (/^(workspace|catalog):/.test(range)) {
        problems.push(`${field}.${dep} is still "${range}": pack with pnpm, which rewrites it`);
      }
    }
  }
  if (!files.some((file) => file.startsWith("dist/") && file.endsWith(".js"))) {
    problems.push('no dist/*.js in the tarball: run "pnpm build" and keep "dist" in "files"');
  }
  const entries = [
    ...exportTargets(manifest.exports),
    manifest.main,
    manifest.types,
    ...exportTargets(manifest.bin),
  ].filter((entry) => typeof entry === "string" && !entry.endsWith("/package.json"));
  for (const entry of new Set(entries)) {
    if (!shipped.has(entry.replace(/^\.\//, ""))) {
      problems.push(`${entry} (an entry point in package.json) is not in the tarball`);
    }
  }
  for (const file of files.filter((f) => TEST_FILE.test(f))) {
    problems.push(`${file} is a test file: exclude it in "files"`);
  }
  if (!shipped.has("README.md")) problems.push("no README.md");
  else {
    const readme = readFileSync(join(dir, "README.md"), "utf8");
    for (const [, target] of readme.matchAll(/\]\((\.\.?\/[^)]*)\)/g)) {
      problems.push(`README.md links to ${target}, which is dead on the registry`);
    }
  }
  const declared = new Set([
    manifest.name,
    ...DEPENDENCY_FIELDS.flatMap((f) => Object.keys(manifest[f] ?? {})),
  ]);
  const undeclared = new Map(); // package name → the files importing it
  for (const file of files.filter((f) => /^dist\/.*\.(js|d\.ts)$/.test(f))) {
    const text = readFileSync(join(dir, file), "utf8");
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2] ?? match[3];
      const target = relativeTarget(file, specifier);
      if (target !== undefined && !shipped.has(target)) {
        problems.push(`${file} imports ${specifier}, which is not in the tarball`);
      }
      const name = packageOf(specifier);
      if (name !== undefined && !isBuiltin(name) && !declared.has(name)) {
        undeclared.set(name, new Set([...(undeclared.get(name) ?? []), file]));
      }
    }
  }
  for (const [name, importers] of undeclared) {
    const [first, ...others] = importers;
    const where = others.length > 0 ? `${first} and ${others.length} more files` : first;
    problems.push(
      `${where} import "${name}", which is not in dependencies or peerDependencies: declare it`,
    );
  }
  return problems;
}

/** Extracts the tarball into a temporary directory and returns its problems (none: fine). */
export function checkTarball(tarball) {
  const dir = mkdtempSync(join(tmpdir(), "assured-tarball-"));
  try {
    execFileSync("tar", ["-xzf", tarball, "-C", dir]);
    const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line.startsWith("package/") && !line.endsWith("/"))
      .map((line) => line.slice("package/".length));
    return problemsOf(join(dir, "package"), files);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
