import type { Namespace } from "socket.io";
import type { SharedReads } from "./shared-reads.js";

/** The part of an Engine.IO server this needs: its middlewares (`io.engine.use`). */
interface EngineWithMiddlewares {
  use(
    middleware: (req: { _query?: Record<string, unknown> }, res: unknown, next: () => void) => void,
  ): void;
}

/** Per Engine.IO server, how its new handshakes wait: the newest open Assured server's pacer. */
const engineGates = new WeakMap<object, { wait: ((next: () => void) => void) | undefined }>();

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
 * it) and waits on the pacer of the Assured server attached last; it is added at the first
 * connection when the Socket.IO server was not attached to an HTTP server yet. Middlewares
 * cannot be removed: the function returned (called when the Assured server closes) lets
 * everything through that this one paced.
 */
export function paceConnections(nsp: Namespace, reads: SharedReads): () => void {
  let active = true;
  const wait = (next: () => void): void => {
    const turn = active ? reads.turn() : undefined;
    if (turn === undefined) next();
    else void turn.then(next);
  };
  nsp.use((_socket, next) => wait(next));
  let gate: { wait: ((next: () => void) => void) | undefined } | undefined;
  const paceEngine = (): boolean => {
    const engine = (nsp.server as { engine?: Partial<EngineWithMiddlewares> }).engine;
    if (engine === undefined || typeof engine.use !== "function") return false;
    gate = engineGates.get(engine);
    if (gate === undefined) {
      const created: { wait: ((next: () => void) => void) | undefined } = { wait: undefined };
      gate = created;
      engineGates.set(engine, created);
      engine.use((req, _res, next) => {
        if (req._query?.sid !== undefined || created.wait === undefined) next();
        else created.wait(next);
      });
    }
    gate.wait = wait;
    return true;
  };
  if (!paceEngine()) nsp.once("connection", paceEngine);
  return () => {
    active = false;
    nsp.off("connection", paceEngine);
    if (gate?.wait === wait) gate.wait = undefined;
  };
}
