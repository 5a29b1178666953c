import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  type AssuredClient,
  type ClientStorage,
  createAssuredClient,
  memoryStorage,
  type RecoveryOutcome,
} from "@assured/client";
import { freePort, type RunningRedis, startRedis } from "@assured/test-services";
import { io } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/*
 * The multi-node example, run as written: two node processes (src/node.ts) on one
 * redis-server. A client on node A gets, live, what node B's handler published (the Redis
 * adapter); after A is SIGKILLed, A's client resumes on B from its position (the Redis
 * stores), and its unanswered message is sent again and handled once, by B. docs/multi-node.md
 * shows src/node.ts word for word.
 */

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const root = here("..");
const STREAM = "room:lobby";

let redis: RunningRedis | undefined;
const children: ChildProcess[] = [];
const clients: AssuredClient[] = [];

afterAll(async () => {
  await Promise.allSettled(clients.map((client) => client.close()));
  for (const child of children) child.kill("SIGKILL");
  await redis?.stop();
});

/**
 * Runs an example file; resolves the process and its output once every pattern was printed.
 * Node itself with tsx as a loader, not the tsx CLI: that runs the file in a child process,
 * which a SIGKILL of the CLI would leave running.
 */
function run(file: string, env: Record<string, string>, patterns: RegExp[], args: string[] = []) {
  const flags = ["--conditions=@assured/source", "--import", "tsx"];
  const child = spawn(process.execPath, [...flags, here(`../${file}`), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  return new Promise<{ child: ChildProcess; output: string }>((resolve, reject) => {
    const check = () => {
      if (patterns.every((p) => p.test(output))) resolve({ child, output });
    };
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      check();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("exit", (code, signal) =>
      reject(new Error(`${file} exited (${code ?? signal}):\n${output}`)),
    );
  });
}

/** Polls `predicate` (state that lives in other processes and sockets) until it holds. */
async function until(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A client of `url` on `room:lobby` that records `offset:text` of each event it handles. */
function connect(url: string, options: { storage?: ClientStorage; clientId?: string } = {}) {
  const socket = io(url, { autoConnect: false, transports: ["websocket"] });
  // No periodic position check: an event that arrives came live through the adapter or replay.
  const client = createAssuredClient(socket, { ...options, positionCheckIntervalMs: 3_600_000 });
  clients.push(client);
  const seen: string[] = [];
  const outcomes: RecoveryOutcome[] = [];
  client.on("chat:message", ({ text }: { text: string }, { offset }) => {
    seen.push(`${offset}:${text}`);
  });
  client.onRecovery((outcome) => {
    outcomes.push(outcome);
  });
  client.subscribe(STREAM, { from: "earliest" });
  return { client, seen, outcomes };
}

type Sent = { offset: number };

/** The code block that follows `<!-- examples/multi-node/<file> -->` in docs/multi-node.md. */
function docBlock(file: string): string {
  const doc = readFileSync(here("../../../docs/multi-node.md"), "utf8");
  const marker = `<!-- examples/multi-node/${file} -->`;
  const at = doc.indexOf(marker);
  if (at < 0) throw new Error(`docs/multi-node.md has no ${marker}`);
  const match = /```ts\n([\s\S]*?)```/.exec(doc.slice(at));
  if (!match) throw new Error(`no ts block after ${marker}`);
  return match[1]!;
}

it("docs/multi-node.md shows src/node.ts as it is", () => {
  expect(docBlock("src/node.ts")).toBe(readFileSync(here("../src/node.ts"), "utf8"));
});

describe("examples/multi-node: two nodes on one Redis", () => {
  let urlA = "";
  let urlB = "";
  let nodeA: ChildProcess | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    const [portA, portB] = [await freePort(), await freePort()];
    [urlA, urlB] = [`http://127.0.0.1:${portA}`, `http://127.0.0.1:${portB}`];
    const ready = /Assured node on http:\/\/localhost:\d+/;
    const [a] = await Promise.all([
      run("src/node.ts", { PORT: String(portA), REDIS_URL: redis.url }, [ready]),
      run("src/node.ts", { PORT: String(portB), REDIS_URL: redis.url }, [ready]),
    ]);
    nodeA = a.child;
  }, 60_000);

  it("fans out across nodes live; after node A dies its client resumes on B from its position, its unanswered message handled once", async () => {
    // Alice's storage and client id outlive her connection to A, as a page's storage would.
    const storage = memoryStorage();
    const alice = connect(urlA, { storage });
    const bob = connect(urlB);
    await Promise.all([alice.client.connect(), bob.client.connect()]);
    await until(() => alice.outcomes.length > 0 && bob.outcomes.length > 0, "both subscribed");

    // B's handler publishes; A's client gets it live through the adapter, and the other way.
    expect(await bob.client.emit<Sent>("chat:send", { room: "lobby", text: "one" })).toEqual({
      offset: 1,
    });
    await until(() => alice.seen.length === 1, "alice to get bob's event from node B");
    expect(await alice.client.emit<Sent>("chat:send", { room: "lobby", text: "two" })).toEqual({
      offset: 2,
    });
    await until(() => bob.seen.length === 2, "bob to get alice's event from node A");
    expect(alice.seen).toEqual(["1:one", "2:two"]);

    // Node A crashes; B goes on publishing while alice is away.
    const exited = new Promise((resolve) => nodeA?.once("exit", resolve));
    nodeA?.kill("SIGKILL");
    await exited;
    await bob.client.emit("chat:send", { room: "lobby", text: "three" });
    await bob.client.emit("chat:send", { room: "lobby", text: "four" });
    // Alice sends while no node answers her: it waits in her outbox.
    const unanswered = alice.client.emit("chat:send", { room: "lobby", text: "five" });
    unanswered.catch(() => {}); // rejected with CLOSED below; the message stays stored
    await until(() => alice.client.pending().length === 1, "alice's message in her outbox");
    const id = alice.client.pending()[0]!.id;
    const clientId = alice.client.clientId;
    await alice.client.close();

    // Her next connection goes to B, with the same storage and client id.
    const again = connect(urlB, { storage, clientId });
    await again.client.connect();
    await until(() => again.seen.length === 3, "alice to resume on node B");
    expect(again.outcomes).toEqual([expect.objectContaining({ stream: STREAM, recovered: true })]);
    // The answer follows the event: B ran the message once and alice has its result.
    await until(async () => (await again.client.result(id)) !== undefined, "alice's answer");
    expect(await again.client.result(id)).toEqual({ ok: true, value: { offset: 5 } });

    // The example client on B: it sees the whole history, and alice gets its message once.
    const { output } = await run(
      "src/client.ts",
      { SERVER_URL: urlB },
      [/stored at offset 6/],
      ["six"],
    );
    expect(output).toMatch(/room:lobby#1 .+ via :\d+: one\nroom:lobby#2 .+ via :\d+: two\n/);
    await until(() => again.seen.length === 4, "alice to get the example client's event");
    // Nothing lost, nothing twice: 1 and 2 on A, then exactly 3 to 6 on B.
    expect(again.seen).toEqual(["3:three", "4:four", "5:five", "6:six"]);
    expect(bob.seen).toEqual(["1:one", "2:two", "3:three", "4:four", "5:five", "6:six"]);
  });
});
