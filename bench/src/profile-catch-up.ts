// One catch-up run outside the report, to profile: a client that missed `missed` events
// reconnects and handles them all; prints the time (and Socket.IO recovery's, for the ratio).
//   pnpm turbo run build && cd bench && node --import tsx --cpu-prof src/profile-catch-up.ts 100000 sqlite
//   node --import tsx src/profile-catch-up.ts 100000 plain   # Socket.IO connectionStateRecovery
import { assuredReplay, socketIoRecovery } from "./catch-up.js";
import { closeStores, openStores, STORE_KINDS, type StoreKind } from "./stores.js";

const missed = Number(process.argv[2] ?? 100_000);
const which = process.argv[3] ?? "memory";
const rounds = Number(process.argv[4] ?? 3);
const plain = which === "plain";
const kind: StoreKind = plain ? "memory" : (which as StoreKind);
if (!STORE_KINDS.includes(kind))
  throw new Error(`choose plain or one of ${STORE_KINDS.join(", ")}`);
const list = await openStores(`profile-${process.pid}`, [kind]);
const [opened] = list;
if (!opened?.available) throw new Error(`the ${kind} store did not open`);
const system = plain ? socketIoRecovery() : assuredReplay(opened.stores);
for (let round = 0; round < rounds; round++) {
  const ms = await system.run(missed, 120_000);
  console.log(`${system.label}: ${missed} events in ${ms.toFixed(0)} ms`);
}
await closeStores(list); // and the database server this run started
