import createDebug from "debug";
import type { Namespace } from "socket.io";

const log = createDebug("assured:server");

/** How often the backlog guard looks at the namespace's connections. */
export const BACKLOG_CHECK_INTERVAL_MS = 1_000;

/**
 * Bounds what the server buffers for a connection that does not read (G11): live batches to a
 * stalled client pile up in Socket.IO's write buffer. Once a second (one timer per server, not
 * per event or subscriber) every socket's unsent packets are counted; a connection with more
 * than `maxBacklog` is closed. The client reconnects and recovers the missed events by replay,
 * which has flow control (G5). Returns a function that stops the guard.
 */
export function startBacklogGuard(nsp: Namespace, maxBacklog: number): () => void {
  const timer = setInterval(() => {
    for (const socket of nsp.sockets.values()) {
      const backlog =
        (socket.conn as unknown as { writeBuffer?: unknown[] }).writeBuffer?.length ?? 0;
      if (backlog <= maxBacklog) continue;
      log("socket %s has %d unsent packets (maxSocketBacklog); closing it", socket.id, backlog);
      // Discard the backlog instead of waiting for it to drain (it never will), and drop the
      // raw WebSocket at once so its buffered bytes are freed too.
      const transport = (socket.conn as unknown as { transport?: { socket?: unknown } }).transport;
      socket.conn.close(true);
      const ws = transport?.socket as { terminate?: () => void } | undefined;
      if (typeof ws?.terminate === "function") ws.terminate();
    }
  }, BACKLOG_CHECK_INTERVAL_MS);
  (timer as { unref?: () => void }).unref?.();
  return () => clearInterval(timer);
}
