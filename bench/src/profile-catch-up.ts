// One catch-up scenario outside the report, to profile: a client that missed `missed` events
// reconnects and handles them all; prints the time of each round. Arguments: missed events,
// store (or `plain`), rounds, and a directory: given one, it writes a CPU profile of each timed
// catch-up after the first (not the publishing before them), `catch-up-<round>.cpuprofile`.
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
let timedRound = 0;
/** Profiles the timed span of each round after the first (a warm-up), one file per round. */
async function onCatchUp(phase: "start" | "end"): Promise<void> {
  if (phase === "start") timedRound++;
  if (profileDir === undefined || timedRound === 1) return;
  if (phase === "start") await session.post("Profiler.start");
  else {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(join(profileDir, `catch-up-${timedRound}.cpuprofile`), JSON.stringify(profile));
  }
}

const system = plain ? socketIoRecovery() : assuredReplay(stores, "memory", undefined, onCatchUp);
for (let round = 0; round < rounds; round++) {
  const ms = await system.run(missed, 120_000);
  console.log(`${system.label}: ${missed} events in ${ms.toFixed(0)} ms`);
}
session.disconnect();
await close(); // and the database server this run started
