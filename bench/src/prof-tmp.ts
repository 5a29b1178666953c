import { MemoryDedupStore, MemoryEventStore } from "@assured/core";
import { assuredMessages } from "./client-to-server.js";
const kind = process.argv[2] ?? "memory";
let stores: any;
if (kind === "memory") {
  stores = { kind: "memory", eventStore: new MemoryEventStore(), dedupStore: new MemoryDedupStore({ maxEntries: 1_000_000 }) };
} else if (kind === "redis") {
  const { RedisDedupStore, RedisEventStore } = await import("@assured/store-redis");
  const keyPrefix = `prof${Date.now()}:`;
  stores = { kind: "redis", eventStore: new RedisEventStore({ redis: "redis://127.0.0.1:6391", keyPrefix }), dedupStore: new RedisDedupStore({ redis: "redis://127.0.0.1:6391", keyPrefix }) };
} else {
  const { createSqliteStores } = await import("@assured/store-sqlite");
  const s = createSqliteStores({ path: `/tmp/prof-${Date.now()}.sqlite` });
  stores = { kind: "sqlite", eventStore: s.eventStore, dedupStore: s.dedupStore };
}
const counts: Record<string, number[]> = {};
const d = stores.dedupStore;
for (const m of ["claim", "complete", "claimMany", "completeMany", "renew", "release"]) {
  const f = d[m]?.bind(d);
  if (!f) continue;
  d[m] = (...a: any[]) => { (counts[m] ??= []).push(Array.isArray(a[0]) ? a[0].length : 1); return f(...a); };
}
const rig = await assuredMessages(stores).open();
const n = Number(process.argv[3] ?? 3000);
await rig.sendAll(200, 100);
const t = performance.now();
await rig.sendAll(n, 100);
const ms = performance.now() - t;
console.log(kind, Math.round((n / ms) * 1000), "msg/s");
for (const [m, c] of Object.entries(counts)) console.log(m, c.length, "calls, avg", (c.reduce((a, b) => a + b, 0) / c.length).toFixed(1));
await rig.close();
process.exit(0);
