import type {
  BatchItemResult,
  ClaimRequest,
  ClaimResult,
  CompleteRequest,
  DedupStore,
} from "./dedup-store.js";
import { assertDedupBatch, MAX_DEDUP_BATCH } from "./dedup-store-arguments.js";
import { type AssuredError, isAssuredError, toStoreError } from "./errors.js";

/**
 * Claims every request through the store's `claimMany` when it has one (in chunks of
 * `MAX_DEDUP_BATCH`), else with one `claim` after the other, in order. Resolves with one result
 * per request (`fulfilled` with the claim's answer, `rejected` with its error). A backend
 * failure (`STORE_UNAVAILABLE`, `STORE_CLOSED`) rejects the items not answered yet with that
 * error instead of trying each of them in turn; the items answered before keep their results
 * (a claimed key's token is not lost).
 *
 * @example
 * const results = await claimMany(store, [{ key, options: { leaseMs, fingerprint } }]);
 */
export function claimMany(
  store: DedupStore,
  requests: readonly ClaimRequest[],
): Promise<BatchItemResult<ClaimResult>[]> {
  const batch = store.claimMany?.bind(store);
  return inBatches(requests, "claimMany", batch, (r) => store.claim(r.key, r.options));
}

/**
 * Completes every request through the store's `completeMany` when it has one, else with one
 * `complete` after the other; results and failures as for `claimMany`.
 *
 * @example
 * const [stored] = await completeMany(store, [{ key, token, response, options: { ttlMs } }]);
 */
export function completeMany(
  store: DedupStore,
  requests: readonly CompleteRequest[],
): Promise<BatchItemResult<boolean>[]> {
  const batch = store.completeMany?.bind(store);
  return inBatches(requests, "completeMany", batch, (r) =>
    store.complete(r.key, r.token, r.response, r.options),
  );
}

/** Whether an item's error means the backend, not the item, failed. */
function isBackendFailure(error: AssuredError): boolean {
  return isAssuredError(error, "STORE_UNAVAILABLE") || isAssuredError(error, "STORE_CLOSED");
}

async function inBatches<R, T>(
  requests: readonly R[],
  method: string,
  batch: ((requests: readonly R[]) => Promise<BatchItemResult<T>[]>) | undefined,
  single: (request: R) => Promise<T>,
): Promise<BatchItemResult<T>[]> {
  if (!Array.isArray(requests)) assertDedupBatch(requests, method);
  const results: BatchItemResult<T>[] = [];
  if (batch !== undefined) {
    for (let start = 0; start < requests.length; start += MAX_DEDUP_BATCH) {
      const chunk = requests.slice(start, start + MAX_DEDUP_BATCH);
      let answered: BatchItemResult<T>[];
      try {
        answered = await batch(chunk);
      } catch (error) {
        const reason = toStoreError(error, method);
        while (results.length < requests.length) results.push({ status: "rejected", reason });
        return results;
      }
      results.push(...answered);
    }
    return results;
  }
  for (const request of requests) {
    try {
      results.push({ status: "fulfilled", value: await single(request) });
    } catch (error) {
      const reason = toStoreError(error, method);
      results.push({ status: "rejected", reason });
      if (isBackendFailure(reason)) {
        while (results.length < requests.length) results.push({ status: "rejected", reason });
        return results;
      }
    }
  }
  return results;
}
