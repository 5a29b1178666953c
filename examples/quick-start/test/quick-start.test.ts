import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { freePort } from "@assured/test-services";
import { afterEach, describe, expect, it } from "vitest";

/*
 * The root README's quick start, checked two ways: its code blocks are these files, word for
 * word, and the files run: a server on SQLite, then two clients that each get the room's
 * history and their own message's stored offset.
 */

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const FILES = ["src/server.ts", "src/client.ts"];
// Node with tsx's loader (an absolute path: the files run in a temporary directory), not the
// tsx CLI, which runs the file in a child process that a kill of the CLI leaves running.
const tsxLoader = pathToFileURL(createRequire(here("../package.json")).resolve("tsx")).href;

/** The code block that follows `<!-- examples/quick-start/<file> -->` in the root README. */
function readmeBlock(file: string): string {
  const readme = readFileSync(here("../../../README.md"), "utf8");
  const marker = `<!-- examples/quick-start/${file} -->`;
  const at = readme.indexOf(marker);
  if (at < 0) throw new Error(`README.md has no ${marker}`);
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!match) throw new Error(`no ts block after ${marker}`);
  return match[1]!;
}

const children: ChildProcess[] = [];
let directory: string | undefined;
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  if (directory) rmSync(directory, { recursive: true, force: true });
  directory = undefined;
});

/** Runs a quick-start file; resolves the output once every pattern was printed. */
function run(file: string, env: Record<string, string>, cwd: string, patterns: RegExp[]) {
  const flags = ["--conditions=@assured/source", "--import", tsxLoader];
  const child = spawn(process.execPath, [...flags, here(`../${file}`)], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  return new Promise<string>((resolve, reject) => {
    const check = () => {
      if (patterns.every((p) => p.test(output))) resolve(output);
    };
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      check();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("exit", (code) => reject(new Error(`${file} exited (${code}):\n${output}`)));
  });
}

describe("README quick start", () => {
  it.each(FILES)("the README shows %s as it is", (file) => {
    expect(readmeBlock(file)).toBe(readFileSync(here(`../${file}`), "utf8"));
  });

  it("runs: a server on SQLite, two clients each get the history and their message's offset", async () => {
    directory = mkdtempSync(join(tmpdir(), "assured-quick-start-"));
    const port = String(await freePort());
    await run("src/server.ts", { PORT: port }, directory, [/Assured on http:\/\/localhost:\d+/]);
    const env = { SERVER_URL: `http://127.0.0.1:${port}` };
    const first = await run("src/client.ts", env, directory, [
      /room:lobby#1 .+: hello/,
      /stored at offset 1/,
    ]);
    expect(first).not.toMatch(/could not recover/);
    const second = await run("src/client.ts", env, directory, [
      /room:lobby#1 .+: hello/,
      /room:lobby#2 .+: hello/,
      /stored at offset 2/,
    ]);
    expect(second.match(/room:lobby#1 /g)).toHaveLength(1);
  });
});
