import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A tiny HTTP server for test pages: path → [content type, body]. */
export interface StaticSite {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves fixed files on 127.0.0.1 (404 for anything else).
 *
 * @example
 * const site = await serveStatic({ "/": ["text/html", html], "/app.js": ["text/javascript", js] });
 */
export async function serveStatic(
  files: Record<string, readonly [contentType: string, body: string]>,
): Promise<StaticSite> {
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    const file = files[path];
    if (file === undefined) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": file[0], "cache-control": "no-store" }).end(file[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
