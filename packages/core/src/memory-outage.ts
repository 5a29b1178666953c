import { AssuredError } from "./errors.js";
import type { MemoryBackend } from "./memory-backend.js";

/**
 * Throws `STORE_UNAVAILABLE` (the outage as its cause) while `backend` is broken by
 * `breakMemoryBackend`; `store` names the calling store class.
 */
export function assertMemoryBackendUp(backend: MemoryBackend, store: string): void {
  const cause = backend.outage;
  if (cause === undefined) return;
  throw new AssuredError(
    "STORE_UNAVAILABLE",
    `${store}: its memory backend is down (breakMemoryBackend); retry once the outage is restored.`,
    { cause },
  );
}
