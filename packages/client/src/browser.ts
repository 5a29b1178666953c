/**
 * The browser bundle: everything of `@assured/client` plus socket.io-client's `io`, so a page
 * needs one import.
 * @example import { io, createAssuredClient, webStorage } from "/assured-client.js";
 */
export { io } from "socket.io-client";
export * from "./index.js";
// The browser storages, named so the bundle keeps them whatever `index.ts` re-exports.
export { indexedDbStorage, webStorage } from "./index.js";
