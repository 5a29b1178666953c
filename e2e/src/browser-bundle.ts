import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const clientRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "packages", "client");

/**
 * Bundles `@assured/client`'s browser entry (`src/browser.ts`: the client, `webStorage` and
 * socket.io-client's `io`) from source into one ES module, the way its build script makes
 * `dist/browser/assured-client.js`, so the page always runs the current code.
 */
export function buildBrowserClient(): Promise<string> {
  return bundleForBrowser(join(clientRoot, "src", "browser.ts"));
}

/**
 * Bundles `entry` and what it imports (workspace packages from source) into one ES module for a
 * browser page.
 */
export async function bundleForBrowser(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["@assured/source"],
    write: false,
    logLevel: "silent",
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error(`esbuild produced no output for ${entry}`);
  return output.text;
}
