import {
  type BenchStores,
  closeStores,
  openStores,
  STORE_KINDS,
  type StoreAvailability,
  type StoreKind,
} from "./stores.js";

/**
 * The store a profiling script runs on, from its `plain|memory|sqlite|…` argument: `plain`
 * measures the Socket.IO baseline (on a memory store nobody uses). `close()` closes it and the
 * database server it started.
 */
export async function openProfiledStore(which: string): Promise<{
  plain: boolean;
  stores: BenchStores;
  close(): Promise<void>;
}> {
  const plain = which === "plain";
  const kind: StoreKind = plain ? "memory" : (which as StoreKind);
  if (!STORE_KINDS.includes(kind))
    throw new Error(`choose plain or one of ${STORE_KINDS.join(", ")}`);
  const list: StoreAvailability[] = await openStores(`profile-${process.pid}`, [kind]);
  const [opened] = list;
  if (!opened?.available) throw new Error(`the ${kind} store did not open`);
  return { plain, stores: opened.stores, close: () => closeStores(list) };
}
