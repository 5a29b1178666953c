import type { Namespace } from "socket.io";
import type { SharedReads } from "./shared-reads.js";

/** An Engine.IO request as its middlewares see it (`prepare()` has parsed the query). */
interface EngineRequest {
  _query?: Record<string, unknown>;
  socket?: {
    destroyed?: boolean;
    listenerCount(event: "error"): number;
    on(event: "error", listener: () => void): unknown;
  };
}

/** The part of an Engine.IO server this needs: its middlewares and transports. */
interface EngineWithMiddlewares {
  use(middleware: (req: EngineRequest, res: unknown, next: () => void) => void): void;
  opts?: { transports?: readonly string[] };
}

/** Waits for a turn of one Assured server's pacer, then calls `next`. */
type Wait = (next: () => void) => void;

/** Per Engine.IO server, the open Assured servers' waits: new handshakes use the newest. */
const engineGates = new WeakMap<object, Wait[]>();
/** Per namespace, the same for its connects (one middleware each, however often re-attached). */
const namespaceGates = new WeakMap<Namespace, Wait[]>();

/** The waits of `nsp`, its middleware added on first use. */
function namespaceGate(nsp: Namespace): Wait[] {
  let waits = namespaceGates.get(nsp);
  if (waits === undefined) {
    const created: Wait[] = [];
    waits = created;
    namespaceGates.set(nsp, created);
    nsp.use((_socket, next) => {
      const newest = created.at(-1);
      if (newest === undefined) next();
      else newest(next);
    });
  }
  return waits;
}

function ignoreError(): void {}

/**
 * Spreads a storm of connections over turns of the event loop (G11): a thousand clients that
 * reconnect at once bring a thousand handshakes in a turn or two, and Engine.IO's handshake and
 * Socket.IO's namespace connect, each a fraction of a millisecond with its writes, stalled the
 * loop for 100–250 ms before anything of Assured ran. New Engine.IO handshakes (requests
 * without a session id: polling and WebSocket alike) and connects to `nsp` take turns from the
 * server's pacer, shared with the page reads and sends (`SharedReads.turn`): one starts at once
 * while the turn's slice has time left, the others in the next turns, in order. A connection
 * outside a storm never waits. Requests of established sessions are never held.
 *
 * The handshake middleware is added to the Engine.IO server once (Socket.IO's namespaces share
 * it) and waits on the pacer of the newest Assured server still open; it is added at the first
 * connection when the Socket.IO server was not attached to an HTTP server yet. It is not added
 * when the server offers WebTransport (Engine.IO closes WebTransport sessions whenever a
 * middleware is registered). The namespace's middleware too is added once. Middlewares cannot
 * be removed: the function returned (called when the Assured server closes) takes this one's
 * pacer off them, and with no Assured server open they let everything through.
 */
export function paceConnections(nsp: Namespace, reads: SharedReads): () => void {
  const wait: Wait = (next) => {
    const turn = reads.turn();
    if (turn === undefined) next();
    else void turn.then(next);
  };
  const connects = namespaceGate(nsp);
  connects.push(wait);
  let gate: Wait[] | undefined;
  const paceEngine = (): boolean => {
    const engine = (nsp.server as { engine?: Partial<EngineWithMiddlewares> }).engine;
    if (engine === undefined || typeof engine.use !== "function") return false;
    if (engine.opts?.transports?.includes("webtransport")) return true;
    gate = engineGates.get(engine);
    if (gate === undefined) {
      const waits: Wait[] = [];
      gate = waits;
      engineGates.set(engine, waits);
      engine.use((req, _res, next) => {
        const newest = waits.at(-1);
        const socket = req.socket;
        if (req._query?.sid || newest === undefined || socket?.destroyed) {
          next();
          return;
        }
        // Node's HTTP server takes its `error` listener off an upgraded socket, and `ws` adds
        // its own only once the handshake goes on: a reset while it waits would throw.
        if (socket !== undefined && socket.listenerCount("error") === 0) {
          socket.on("error", ignoreError);
        }
        newest(next);
      });
    }
    gate.push(wait);
    return true;
  };
  if (!paceEngine()) nsp.once("connection", paceEngine);
  return () => {
    nsp.off("connection", paceEngine);
    for (const waits of [connects, gate]) {
      const at = waits?.indexOf(wait) ?? -1;
      if (at >= 0) waits!.splice(at, 1);
    }
  };
}
