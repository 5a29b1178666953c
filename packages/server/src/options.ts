import type { MetricsMeter } from "@assured/core/protocol";
import type { DedupStore, EventStore } from "@assured/core/store";
import type { Namespace, Server, Socket } from "socket.io";
import type { OnServerFailure } from "./failure-reports.js";
import type { AssuredLimits } from "./limits.js";

/**
 * What a socket asks to do with a stream; `fetch` covers `assured:fetch`, `assured:heads` and
 * `assured:history`.
 */
export type StreamAction = "subscribe" | "fetch";

/** Options of `createAssuredServer`. */
export interface AssuredServerOptions<S extends Socket = Socket> {
  /** Where events are persisted and replayed from. */
  store: EventStore;
  /** Where client messages are deduplicated. */
  dedupStore: DedupStore;
  /**
   * Decides whether a socket may read a stream. Called for every subscription (handshake,
   * `assured:sub`, server `subscribe`), every fetch and history read and every stream of a
   * heads request — at every (re)connect. Default: allow. A throwing hook counts as a refusal.
   */
  authorize?: (socket: S, stream: string, action: StreamAction) => boolean | Promise<boolean>;
  /**
   * The dedup principal of a socket (for example the authenticated user id), 1–248 characters.
   * Default: the handshake's `auth.assured.clientId`, which the client chooses: it is not
   * authenticated, so set `identify` when clients are not trusted. Called when the socket
   * connects (again after a failure, at its next message); the sockets of one principal share
   * one rate-limit bucket (`tokensPerSecond`), so return a value per user, not a shared one.
   */
  identify?: (socket: S) => string | Promise<string>;
  /** Bounds; see `DEFAULT_LIMITS` for every default. */
  limits?: Partial<AssuredLimits>;
  /**
   * Called with every failure the server answers on its own: a handler that threw, a store
   * failure, a refused frame, a hook that threw (`ServerFailure`: kind, error, socket, principal,
   * stream, message). Clients get the code and a safe message; the details come here. Default:
   * print each handler failure once and store failures at most once per operation every 10 s
   * (`console.error`); refused frames and hook failures go to the `assured:server` debug log.
   */
  onError?: OnServerFailure<S>;
  /**
   * Where the server's OpenTelemetry metrics go (docs/operations.md): a `Meter` of
   * `@opentelemetry/api`, or `false` for none. Default: the global meter provider's
   * `"@assured/server"` meter when `@opentelemetry/api` is installed (a no-op until an SDK is
   * registered), else none. `assured.stats()` works either way.
   */
  meter?: MetricsMeter | false;
}

/** What a message handler learns about the message besides its data. */
export interface MessageContext<S extends Socket = Socket> {
  /** The socket the message arrived on. */
  socket: S;
  /** The dedup principal (see `identify`). */
  principal: string;
  /** The message's idempotency id. */
  id: string;
  /** The client's send order. */
  seq: number;
  /**
   * Aborted when this run must stop: its dedup lease was lost (taken over by another run, or
   * not renewed in time: reason `LEASE_LOST`), it ran past `limits.handlerTimeoutMs`
   * (`TIMEOUT`), or the Assured server is closing (`CLOSED`). Pass it to your I/O
   * (`fetch(url, { signal })`) and check it before writing. After a lost lease or a timeout the
   * answer is not stored; whatever the handler throws once it is aborted is not stored either.
   * It is an accessor (the signal is made when first read): a copy of the context such as
   * `{ ...context }` does not carry it, so pass `context.signal` itself.
   */
  signal: AbortSignal;
  /**
   * The fencing token of this run's claim: it grows with every takeover of the message (a run
   * that lost its lease has a lower one than the run that took over). Pass it to your own
   * storage with each write and keep the highest token seen per message (or per resource):
   * refuse a write with a lower token, and a run that lost its lease without knowing it yet
   * cannot overwrite the newer run's work.
   */
  fencingToken: number;
}

/**
 * Client message signatures, Socket.IO style: `{ "chat:send": (data: { text: string }) => { ok: boolean } }`.
 */
// biome-ignore lint/suspicious/noExplicitAny: like Socket.IO's EventsMap, so interfaces satisfy it.
export type MessagesMap = { [name: string]: any };

/** Server event signatures for `publish`: `{ "chat:message": (data: { text: string }) => void }`. */
// biome-ignore lint/suspicious/noExplicitAny: like Socket.IO's EventsMap, so interfaces satisfy it.
export type PublishMap = { [name: string]: any };

/** A handler for client message `M[K]`. */
export type MessageHandler<M extends MessagesMap, K extends keyof M, S extends Socket = Socket> = (
  data: FirstParameter<M[K]>,
  context: MessageContext<S>,
) => ResultOf<M[K]> | Promise<ResultOf<M[K]>>;

/** The data type of a signature `(data) => …` (anything else: `any`). */
// biome-ignore lint/suspicious/noExplicitAny: an untyped signature accepts any data.
export type FirstParameter<F> = F extends (data: infer D, ...rest: any[]) => any ? D : any;

/** The result type of a signature `(…) => R` (anything else: `any`). */
// biome-ignore lint/suspicious/noExplicitAny: an untyped signature returns any result.
export type ResultOf<F> = F extends (...args: any[]) => infer R ? Awaited<R> : any;

/** A Socket.IO `Server` or `Namespace`, whatever its typed events and socket data. */
// biome-ignore lint/suspicious/noExplicitAny: accepts any typed-events Server or Namespace.
export type AnyServer = Server<any, any, any, any> | Namespace<any, any, any, any>;

/**
 * The socket type of a Socket.IO `Server` or `Namespace`, typed events and `socket.data`
 * included: `SocketOf<typeof io>` is `Socket<ClientToServer, ServerToClient, Inter, SocketData>`
 * for `io: Server<ClientToServer, ServerToClient, Inter, SocketData>`.
 */
export type SocketOf<IO> = IO extends { readonly sockets: Map<string, infer S extends Socket> }
  ? S
  : IO extends { readonly sockets: { readonly sockets: Map<string, infer S extends Socket> } }
    ? S
    : Socket;
