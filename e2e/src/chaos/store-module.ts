import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { AssuredError } from "@assured/core";
import type { DedupStore, EventStore } from "@assured/core/store";

/** The stores a chaos store module opens on a directory. */
export interface ChaosStores {
  eventStore: EventStore;
  dedupStore: DedupStore;
  /** Closes both stores (on a graceful stop; a SIGKILLed node never calls it). */
  close(): Promise<void>;
}

/**
 * What `pnpm chaos --store <module>` needs from a store's module, beside the conformance
 * harnesses (`eventStore`, `dedupStore`) it may export for `assured-conformance`. The harnesses'
 * `create` makes fresh isolated data per case; a chaos node is a process that is SIGKILLed and
 * started again, and must find the same data, so the module also exports `chaos`:
 *
 * - `open({ directory })` opens the stores on `directory` and resolves
 *   `{ eventStore, dedupStore, close() }`. It is called once in each start of the node process
 *   (the same `directory` every time, after a clean stop or a SIGKILL), and in the test process
 *   to read the logs (after the load has stopped, while the node still runs: reads only).
 * - `directory` is an empty folder of the run, kept across restarts; a store that is not on
 *   files may ignore it and use it only to name its data (a database name, a key prefix).
 *
 * @example
 * // my-store.harness.ts
 * export const chaos = {
 *   async open({ directory }: { directory: string }) {
 *     const eventStore = new MyEventStore({ directory });
 *     const dedupStore = new MyDedupStore({ directory });
 *     return { eventStore, dedupStore, close: async () => { await eventStore.close(); await dedupStore.close(); } };
 *   },
 * };
 */
export interface ChaosStoreModule {
  open(options: { directory: string }): Promise<ChaosStores>;
}

const SHAPE =
  "export const chaos = { open({ directory }) } resolving { eventStore, dedupStore, close() }: the stores on the data in `directory` (opened again, on the same directory, after the node is SIGKILLed)";

/** Resolves a module path given on the command line against `base` (default: the working directory). */
export function resolveStoreModule(path: string, base = process.cwd()): string {
  return isAbsolute(path) || path.startsWith("file:") ? path : resolve(base, path);
}

/**
 * Imports the module at `path` (absolute, or a `file:` URL) and reads its `chaos` export (or the
 * default export's `chaos`). Throws `INVALID_ARGUMENT` saying what to export when it has none.
 */
export async function loadChaosStoreModule(path: string): Promise<ChaosStoreModule> {
  const url = path.startsWith("file:") ? path : pathToFileURL(path).href;
  const imported = (await import(url)) as Record<string, unknown>;
  const fallback = imported.default as Record<string, unknown> | undefined;
  const chaos = imported.chaos ?? fallback?.chaos;
  if (
    typeof chaos !== "object" ||
    chaos === null ||
    typeof (chaos as { open?: unknown }).open !== "function"
  ) {
    const names = Object.keys(imported).join(", ") || "nothing";
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${path} has no chaos store export (it exports ${names}). Add ${SHAPE}.`,
    );
  }
  return chaos as ChaosStoreModule;
}

/** Opens the stores of the module at `path` on `directory`, checking what `open` resolves. */
export async function openChaosStores(path: string, directory: string): Promise<ChaosStores> {
  const module = await loadChaosStoreModule(path);
  const stores = (await module.open({ directory })) as Partial<ChaosStores> | undefined;
  const missing = [
    hasMethods(stores?.eventStore, ["append", "read", "head", "reset", "close"])
      ? undefined
      : "eventStore (an EventStore)",
    hasMethods(stores?.dedupStore, ["claim", "complete", "release", "close"])
      ? undefined
      : "dedupStore (a DedupStore)",
    typeof stores?.close === "function" ? undefined : "close()",
  ].filter((what) => what !== undefined);
  if (missing.length > 0) {
    throw new AssuredError(
      "INVALID_ARGUMENT",
      `${path}: chaos.open({ directory }) resolved no ${missing.join(", no ")}. Expected ${SHAPE}.`,
    );
  }
  return stores as ChaosStores;
}

function hasMethods(value: unknown, names: readonly string[]): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    names.every((name) => typeof (value as Record<string, unknown>)[name] === "function")
  );
}
