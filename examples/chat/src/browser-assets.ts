import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

/** A file the chat serves, held in memory. */
export interface Asset {
  contentType: string;
  body: string;
}

/** Every file of the chat page, by URL path. */
export type BrowserAssets = ReadonlyMap<string, Asset>;

const PAGE_DIR = new URL("./page/", import.meta.url);
const CLIENT_BUNDLE_PATH = "/assured-client.js";
const JS = "text/javascript; charset=utf-8";

/**
 * Builds what the browser loads: the page (HTML, CSS, and `src/page/main.ts` bundled by
 * esbuild) and the `@assured/client` browser bundle, which the page imports as
 * `/assured-client.js`. Takes about a second; done once at start.
 */
export async function buildBrowserAssets(): Promise<BrowserAssets> {
  const [html, css, page, client] = await Promise.all([
    readFile(new URL("index.html", PAGE_DIR), "utf8"),
    readFile(new URL("style.css", PAGE_DIR), "utf8"),
    bundlePage(),
    loadClientBundle(),
  ]);
  return new Map<string, Asset>([
    ["/", { contentType: "text/html; charset=utf-8", body: html }],
    ["/style.css", { contentType: "text/css; charset=utf-8", body: css }],
    ["/app.js", { contentType: JS, body: page }],
    [CLIENT_BUNDLE_PATH, { contentType: JS, body: client }],
  ]);
}

/**
 * The page's own code. Its `@assured/client/browser` import stays an import of
 * `/assured-client.js`, so the page loads the client bundle exactly as any web page would.
 */
async function bundlePage(): Promise<string> {
  const clientAsUrl: Plugin = {
    name: "assured-client-url",
    setup(b) {
      b.onResolve({ filter: /^@assured\/client\/browser$/ }, () => ({
        path: CLIENT_BUNDLE_PATH,
        external: true,
      }));
    },
  };
  const result = await build({
    entryPoints: [fileURLToPath(new URL("main.ts", PAGE_DIR))],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    sourcemap: "inline",
    write: false,
    logLevel: "silent",
    plugins: [clientAsUrl],
  });
  return result.outputFiles[0]!.text;
}

/**
 * The `@assured/client/browser` bundle: the built file when the package export resolves to one
 * (`packages/client/dist/browser/assured-client.js`, after `pnpm build`), else bundled here
 * from the package's TypeScript source (under the `@assured/source` condition `pnpm start`
 * uses, or when the built file is missing).
 */
async function loadClientBundle(): Promise<string> {
  const resolved = resolveClientBundle();
  if (resolved?.endsWith(".js") && existsSync(resolved)) return readFile(resolved, "utf8");
  const result = await build({
    stdin: {
      contents: 'export * from "@assured/client/browser";',
      resolveDir: fileURLToPath(new URL(".", import.meta.url)),
      loader: "ts",
    },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    conditions: ["@assured/source"],
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}

function resolveClientBundle(): string | undefined {
  try {
    return fileURLToPath(import.meta.resolve("@assured/client/browser"));
  } catch {
    return undefined; // Not built and not running from source: bundle the source below.
  }
}
