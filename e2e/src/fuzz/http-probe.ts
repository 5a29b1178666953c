import { request } from "node:http";
import type { HttpProbe } from "./arbitraries.js";
import { type FuzzContext, pause } from "./context.js";

/** One HTTP exchange, bounded in time and in the bytes read back. */
function exchange(
  ctx: FuzzContext,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | Uint8Array | undefined,
  timeoutMs: number,
): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    ctx.frames.http++;
    const req = request(
      { host: "127.0.0.1", port: ctx.port, method, path, headers, agent: false },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          if (text.length < 64 * 1024) text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on("error", () => resolve(undefined));
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      resolve(undefined);
    }, timeoutMs);
    req.on("close", () => clearTimeout(timer));
    req.on("error", () => resolve(undefined));
    req.end(body);
  });
}

/** Opens an engine.io long-polling session and returns its id. */
async function pollingSession(ctx: FuzzContext): Promise<string | undefined> {
  ctx.frames.handshakes++;
  const reply = await exchange(
    ctx,
    "GET",
    "/socket.io/?EIO=4&transport=polling",
    {},
    undefined,
    2_000,
  );
  const open = reply?.body.startsWith("0") ? reply.body.slice(1) : undefined;
  if (open === undefined) return undefined;
  try {
    const sid = (JSON.parse(open) as { sid?: unknown }).sid;
    return typeof sid === "string" ? sid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Plays one generated `HttpProbe`: a long-polling handshake followed by a hostile POST (a
 * Socket.IO CONNECT with a generated `auth`, packets, garbage, an oversized body), or a bare
 * request with a wrong protocol version, transport, session id or a huge query string. Long
 * polls are cut after a moment; the sessions they open are left to expire on the server.
 */
export async function runHttpProbe(ctx: FuzzContext, probe: HttpProbe): Promise<void> {
  let query = probe.query;
  if (query.includes("{sid}")) {
    const sid = await pollingSession(ctx);
    if (sid === undefined) return;
    query = query.replaceAll("{sid}", sid);
  }
  const body = probe.method === "GET" || probe.method === "OPTIONS" ? undefined : probe.body;
  await exchange(ctx, probe.method, `/socket.io/?${query}`, probe.headers, body, 1_500);
  // Each polling session lingers on the server until its ping timeout (45 s): keep their
  // number in the hundreds, not thousands.
  await pause(ctx, 20);
}
