/**
 * Typed events and messages, Socket.IO style, with the very maps `@assured/server` takes, so
 * one shared type file serves both ends:
 *
 * ```ts
 * // shared/protocol.ts
 * export type ChatEvents = { "chat:message": (data: { text: string; from: string }) => void };
 * export type ChatMessages = { "chat:send": (data: { text: string }) => { offset: number } };
 * // server
 * const assured = createAssuredServer<ChatMessages, ChatEvents>(io, options);
 * // client
 * const client = createAssuredClient<ChatEvents, ChatMessages>(socket, options);
 * ```
 *
 * Without type arguments the maps are loose: any name, data typed by the caller (`unknown`
 * unless given, e.g. `client.on<ChatMessage>("chat:message", …)`).
 */

/**
 * Published event signatures, the server's `PublishMap`:
 * `{ "chat:message": (data: { text: string }) => void }`.
 */
// biome-ignore lint/suspicious/noExplicitAny: like Socket.IO's EventsMap, so interfaces satisfy it.
export type EventsMap = { [name: string]: any };

/**
 * Client message signatures, the server's `MessagesMap`: the handler's data and result,
 * `{ "chat:send": (data: { text: string }) => { offset: number } }`.
 */
// biome-ignore lint/suspicious/noExplicitAny: like Socket.IO's EventsMap, so interfaces satisfy it.
export type MessagesMap = { [name: string]: any };

/**
 * A map of signatures: every entry is a function type. A map of plain data types
 * (`{ "chat:message": { text: string } }`) is refused, since it would type every data as `any`.
 */
// biome-ignore lint/suspicious/noExplicitAny: any data and result, only the entry's kind is checked.
export type SignaturesOf<Map> = { [K in keyof Map]: (...args: any[]) => any };

/** The data type of a signature `(data) => …` (anything else: `any`), as on the server. */
// biome-ignore lint/suspicious/noExplicitAny: an untyped signature accepts any data.
export type FirstParameter<F> = F extends (data: infer D, ...rest: any[]) => any ? D : any;

/** The result type of a signature `(…) => R` (anything else: `any`), as on the server. */
// biome-ignore lint/suspicious/noExplicitAny: an untyped signature returns any result.
export type ResultOf<F> = F extends (...args: any[]) => infer R ? Awaited<R> : any;

/** True for a loose map (a string index signature, the default): any name is allowed. */
export type IsLoose<Map> = string extends keyof Map ? true : false;

/**
 * The type a caller may pass explicitly (`on<T>`, `emit<R>`): anything with a loose map
 * (default `unknown`), nothing with a typed one (the map decides).
 */
export type Explicit<Map> = IsLoose<Map> extends true ? unknown : never;

/** The data an event handler of `name` receives: from the map, or `T` with a loose map. */
export type EventDataOf<E, K extends keyof E, T> =
  IsLoose<E> extends true ? T : FirstParameter<E[K]>;

/** The data `emit(name, data)` takes: from the map, or anything with a loose map. */
export type MessageDataOf<M, K extends keyof M> =
  IsLoose<M> extends true ? unknown : FirstParameter<M[K]>;

/** What `emit(name, …)` resolves with: the handler's result, or `R` with a loose map. */
export type MessageResultOf<M, K extends keyof M, R> = IsLoose<M> extends true ? R : ResultOf<M[K]>;
