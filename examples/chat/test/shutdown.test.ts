import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@assured/test-services";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startChatProcess } from "./chat-process.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

describe("stopping the chat with Ctrl-C", () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "assured-chat-stop-"));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("SIGINT closes Assured, the HTTP server and the SQLite file, prints Stopped. and exits 0", async () => {
    const dbPath = join(dir, "sigint.sqlite");
    const server = await startChatProcess({ dbPath, port: await freePort() });
    for (const n of [1, 2, 3]) await post(server.url, `message ${n}`, `m-${n}`);

    expect(await server.stop("SIGINT")).toBe(0);
    const { stdout, stderr } = await server.output();
    expect(stderr).toBe("");
    expect(stdout).toMatch(/\nSIGINT: stopping…\nStopped.\n$/);

    // The store was closed: SQLite folds its write-ahead log back into the file on the last
    // close and deletes it (a killed process leaves it behind). The file reopens intact.
    expect(existsSync(`${dbPath}-wal`)).toBe(false);
    const db = new Database(dbPath);
    try {
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      const ids = db
        .prepare(
          `SELECT e.event_id FROM assured_events e JOIN assured_streams s USING (stream_id)
            WHERE s.stream_name = 'room:general' ORDER BY e.event_offset`,
        )
        .pluck()
        .all();
      expect(ids).toEqual(["api:m-1", "api:m-2", "api:m-3"]);
    } finally {
      db.close();
    }
  });

  it("`pnpm start` and Ctrl-C (SIGINT to its process group) ends with exit code 0 and no pnpm error", async () => {
    // A terminal's Ctrl-C signals the whole foreground process group: pnpm, the shells it runs
    // scripts in, and the server. A shell between pnpm and the server dies of that SIGINT
    // and pnpm reports `ELIFECYCLE Command failed`, however cleanly the server stops.
    const pnpm = spawn("pnpm", ["start"], {
      cwd: REPO_ROOT,
      detached: true, // its own process group, as in a terminal
      env: { ...process.env, PORT: "0", HOST: "127.0.0.1", CHAT_DB: join(dir, "pnpm.sqlite") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const group = pnpm.pid as number;
    let output = "";
    const closed = new Promise<number | null>((resolve) => pnpm.once("close", resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const onData = (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes("Press Ctrl-C to stop.")) resolve();
        };
        pnpm.stdout.on("data", onData);
        pnpm.stderr.on("data", onData);
        void closed.then((code) => reject(new Error(`pnpm start exited (${code}):\n${output}`)));
      });
      process.kill(-group, "SIGINT");
      const code = await closed;
      expect(output).not.toMatch(/ELIFECYCLE|ERR_PNPM|failed/i);
      // The server gets the group's SIGINT; pnpm may also pass a SIGTERM on to it, which can be
      // handled first on a loaded machine. Either way it stops once, cleanly.
      expect(output).toMatch(/SIG(INT|TERM): stopping…\nStopped\.\n/);
      expect(output.match(/stopping…/g)).toHaveLength(1);
      expect(code).toBe(0);
    } finally {
      killGroup(group); // whatever is left if the test failed
    }
  });
});

async function post(url: string, text: string, id: string): Promise<void> {
  const response = await fetch(`${url}/api/rooms/general/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ author: "script", text, id }),
  });
  expect(response.status).toBe(200);
}

function killGroup(group: number): void {
  try {
    process.kill(-group, "SIGKILL");
  } catch {
    // Already gone.
  }
}
