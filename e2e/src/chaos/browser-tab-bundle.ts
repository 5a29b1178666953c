import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleForBrowser } from "../browser-bundle.js";

const entry = join(dirname(fileURLToPath(import.meta.url)), "browser-tab-page.ts");

/** The chaos tab's HTML: it loads the bundled page script. */
export const TAB_HTML = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>assured chaos tab</title></head>
<body><script type="module" src="/chaos-tab.js"></script></body>
</html>`;

/**
 * Bundles the chaos tab's page script (`browser-tab-page.ts`) with `@assured/client` and
 * socket.io-client from source into one ES module, as `buildBrowserClient` bundles the client,
 * so the tabs always run the current code.
 */
export function buildTabPage(): Promise<string> {
  return bundleForBrowser(entry);
}
