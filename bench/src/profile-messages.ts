// One client→server run outside the report, to profile: the rig of the client-to-server
// scenario, warmed up, then `count` messages with at most 100 unanswered; prints messages/s and
// the process's CPU time per message.
//   pnpm turbo run build && cd bench && node --import tsx --cpu-prof src/profile-messages.ts 50000
//   node --import tsx src/profile-messages.ts 50000 plain   # Socket.IO emitWithAck alone
//   node --import tsx src/profile-messages.ts 20000 sqlite  # another store (its server must run)
import { assuredMessages, socketIoAcks } from "./client-to-server.js";
import { openProfiledStore } from "./profile-store.js";

const count = Number(process.argv[2] ?? 50_000);
const { plain, stores, close } = await openProfiledStore(process.argv[3] ?? "memory");
const system = plain ? socketIoAcks(false) : assuredMessages(stores);
const rig = await system.open();
await rig.sendAll(2_000, 100);
const started = performance.now();
const cpu = process.cpuUsage();
await rig.sendAll(count, 100);
const ms = performance.now() - started;
const { user, system: sys } = process.cpuUsage(cpu);
const perSecond = Math.round((count / ms) * 1000);
console.log(`${system.label}: ${perSecond} msg/s, CPU ${((user + sys) / count).toFixed(1)} µs/msg`);
await rig.close();
await close(); // and the database server this run started
