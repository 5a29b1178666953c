// Builds dist/browser/assured-client.js: one minified ES module for plain pages, with
// socket.io-client bundled (and `io` re-exported), no Node built-ins.
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outfile = join(root, "dist/browser/assured-client.js");

const result = await build({
  entryPoints: [join(root, "src/browser.ts")],
  outfile,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: true,
  legalComments: "linked",
  conditions: ["@assured/source"],
  metafile: true,
  logLevel: "warning",
});

const nodeBuiltins = Object.keys(result.metafile.inputs).filter((path) => path.startsWith("node:"));
if (nodeBuiltins.length > 0) {
  throw new Error(`the browser bundle must not import Node built-ins: ${nodeBuiltins.join(", ")}`);
}

await mkdir(dirname(outfile), { recursive: true });
await writeFile(join(root, "dist/browser/assured-client.d.ts"), 'export * from "../browser.js";\n');
const bytes =
  result.metafile.outputs[Object.keys(result.metafile.outputs).find((k) => k.endsWith(".js"))]
    .bytes;
console.log(`dist/browser/assured-client.js: ${(bytes / 1024).toFixed(1)} KiB`);
