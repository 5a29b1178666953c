// The latency workload alone (publish → each client's handler, 100 clients in this process,
// events one at a time), for a CPU profile of where each client's time goes:
//   pnpm turbo run build && cd bench && node --import tsx src/profile-latency.ts 1000
//   node --import tsx src/profile-latency.ts 1000 plain        # plain Socket.IO
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx src/profile-latency.ts 1000
// Prints the p50 and p99 latency and the process's CPU time per event and client.
import { type BenchEvent, benchEvent } from "./bench-event.js";
import { countdown } from "./countdown.js";
import { assuredSystem, socketIoSystem } from "./live-rigs.js";
import { percentile } from "./stats.js";
import { closeStores, openStores } from "./stores.js";

const events = Number(process.argv[2] ?? 1_000);
const plain = process.argv[3] === "plain";
const clients = 100;
let sink: (event: BenchEvent) => void = () => {};
const opened = plain ? [] : await openStores("profile-latency", ["memory"]);
const memory = opened[0];
if (!plain && !memory?.available) throw new Error("the memory store did not open");
const system = memory?.available ? assuredSystem(memory.stores) : socketIoSystem(false);
const rig = await system.open(clients, (event) => sink(event));

async function run(count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let seq = 0; seq < count; seq++) {
    const arrived = countdown(clients, 30_000, "latency");
    sink = (event) => {
      samples.push(performance.now() - event.at);
      arrived.tick();
    };
    await Promise.all([rig.publish(benchEvent(seq)), arrived.done]);
  }
  return samples;
}

await run(200); // warm-up
const cpu = process.cpuUsage();
const samples = await run(events);
const used = process.cpuUsage(cpu);
const perEvent = (used.user + used.system) / events / clients;
console.log(
  `${system.label}: p50 ${percentile(samples, 50).toFixed(3)} ms, p99 ${percentile(samples, 99).toFixed(3)} ms, CPU ${perEvent.toFixed(1)} µs per event and client`,
);
await rig.close();
await closeStores(opened);
