// A dedup holder in a process of its own: claims `key`, prints `claimed <token>`, then stores a
// response for it and prints `completed`. Used by dedup-crash.test.ts, which SIGKILLs it
// inside `complete`.
import { MongoDedupStore } from "../../src/index.js";

const [url, database, key, leaseMs] = process.argv.slice(2);
const store = new MongoDedupStore({
  connection: url!,
  database: database!,
  clientOptions: { maxPoolSize: 2 },
});
const claim = await store.claim(key!, { leaseMs: Number(leaseMs), fingerprint: "fp" });
if (claim.status !== "claimed") throw new Error(`the holder's claim was ${claim.status}`);
process.stdout.write(`claimed ${claim.token}\n`);
const response = { ok: true, payload: new Uint8Array([1]) };
await store.complete(key!, claim.token, response, { ttlMs: 60_000 });
process.stdout.write("completed\n");
await store.close();
