// One catch-up scenario outside the report, to profile: a client that missed `missed` events
// reconnects and handles them all; prints the time of each round. With `--profile DIR` it
// writes one CPU profile of the timed catch-ups only (not the publishing before them).
//   pnpm turbo run build && cd bench && node --import tsx src/profile-catch-up.ts 100000 sqlite 5 /tmp/prof
//   node --import tsx src/profile-catch-up.ts 100000 plain   # Socket.IO connectionStateRecovery
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { assuredReplay, socketIoRecovery } from "./catch-up.js";
import { openProfiledStore } from "./profile-store.js";

const missed = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[4] ?? 3);
const profileDir = process.argv[5];
const { plain, stores, close } = await openProfiledStore(process.argv[3] ?? "memory");

const session = new Session();
session.connect();
await session.post("Profiler.enable");
let profiled = 0;
/** Profiles the timed spans of the rounds after the first (warm-up), one profile per span. */
async function onCatchUp(phase: "start" | "end"): Promise<void> {
  if (profileDir === undefined || profiled++ < 2) return;
  if (phase === "start") await session.post("Profiler.start");
  else {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(join(profileDir, `catch-up-${profiled}.cpuprofile`), JSON.stringify(profile));
  }
}

const system = plain ? socketIoRecovery() : assuredReplay(stores, "memory", undefined, onCatchUp);
for (let round = 0; round < rounds; round++) {
  const ms = await system.run(missed, 120_000);
  console.log(`${system.label}: ${missed} events in ${ms.toFixed(0)} ms`);
}
session.disconnect();
await close(); // and the database server this run started
