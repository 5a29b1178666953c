// Client → server messages with the server in a child process, to see each side's CPU: the
// client here, the server in `profile-split-server.ts`; at most 100 unanswered, after a warm-up.
// Prints messages/s and each process's CPU time per message.
//   pnpm turbo run build && cd bench && node --import tsx src/profile-split.ts 30000
//   node --import tsx src/profile-split.ts 30000 plain        # Socket.IO emitWithAck alone
//   SERVER_PROFILE=/tmp/prof node --import tsx src/profile-split.ts 30000   # server CPU profile
import { fork } from "node:child_process";
import { createAssuredClient } from "@assured/client";
import { connectSocket, newSocket } from "./loopback.js";
import { sendPooled } from "./pool.js";

const count = Number(process.argv[2] ?? 30_000);
const plain = process.argv[3] === "plain";
const profileDir = process.env.SERVER_PROFILE;
const child = fork(
  new URL("./profile-split-server.ts", import.meta.url).pathname,
  [plain ? "plain" : "assured"],
  {
    execArgv: [
      "--import",
      "tsx",
      ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
    ],
  },
);
const answer = () =>
  new Promise<string>((resolve) => child.once("message", (m) => resolve(`${m}`)));
const url = await answer();
const message = (i: number) => ({ i, text: "a message from the client, as a chat app would send" });
const socket = newSocket(url);
let send: (i: number) => Promise<unknown>;
let close: () => Promise<void>;
if (plain) {
  await connectSocket(socket);
  send = (i) => socket.emitWithAck("msg", message(i));
  close = async () => {
    socket.disconnect();
  };
} else {
  const client = createAssuredClient(socket, { ackTimeoutMs: 30_000 });
  await client.connect();
  send = (i) => client.emit("msg", message(i));
  close = () => client.close();
}
await sendPooled(3_000, 100, send);
child.send("start");
await answer();
const cpu = process.cpuUsage();
const startedAt = performance.now();
await sendPooled(count, 100, send);
const ms = performance.now() - startedAt;
const { user, system } = process.cpuUsage(cpu);
child.send("stop");
const serverCpu = Number(await answer());
const perMessage = (us: number) => (us / count).toFixed(1);
console.log(
  `${plain ? "Socket.IO emitWithAck (plain)" : "Assured client.emit, memory store"}: ` +
    `${Math.round((count / ms) * 1000)} msg/s; CPU per message: client ${perMessage(user + system)} µs, server ${perMessage(serverCpu)} µs`,
);
await close();
child.send("exit");
