import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL("..", import.meta.url));
const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

/** Runs the built CLI; resolves with its exit code and output whatever the code. */
async function conformance(...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { cwd: packageDir });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const source = ["--conditions", "@assured/source"];

describe("assured-conformance CLI", () => {
  beforeAll(async () => {
    // The bin is dist/cli.js: build the package as it will be published.
    const tsc = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));
    await run(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: packageDir });
  }, 120_000);

  it("exits 0 and prints the totals when every case passes", async () => {
    const { code, stdout } = await conformance("test/fixtures/memory-harness.ts", ...source);
    expect(stdout).toMatch(/^Assured conformance: test\/fixtures\/memory-harness\.ts$/m);
    expect(stdout).toMatch(/^Cases: 93 passed, 0 failed, 0 skipped \(93 total\)$/m);
    expect(stdout).toMatch(/^Result: PASS$/m);
    expect(code).toBe(0);
  });

  it("exits 1 and names each failing case with its reason", async () => {
    const { code, stdout } = await conformance("test/fixtures/broken-dedup-race.ts", ...source);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^Failed:$/m);
    expect(stdout).toMatch(
      /✗ .*dedup concurrency .* > lets exactly one of 50 concurrent claims on one instance win/,
    );
    expect(stdout).toMatch(/claims that won/);
    expect(stdout).toMatch(/^Skipped:$/m);
    expect(stdout).toMatch(/\(the store declares capabilities\.persistent: false\)/);
    expect(stdout).toMatch(/^Result: FAIL$/m);
  });

  it("exits 1 with a message naming the expected exports when the module has no harness", async () => {
    const { code, stdout } = await conformance("test/fixtures/no-harness.ts", ...source);
    expect(code).toBe(1);
    expect(stdout).toMatch(/ERROR .*exports no harness.*Export "eventStore".*"dedupStore"/);
  });

  it("prints the summary as JSON with --json", async () => {
    const { code, stdout } = await conformance(
      "test/fixtures/broken-epoch.ts",
      "--json",
      ...source,
    );
    expect(code).toBe(1);
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({ ok: false, module: "test/fixtures/broken-epoch.ts" });
    expect(summary.failed).toBeGreaterThan(0);
  });

  it("exits 2 on usage errors and explains them; --help prints the usage", async () => {
    const missing = await conformance("test/fixtures/nope.ts");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/Harness module not found: test\/fixtures\/nope\.ts/);
    const none = await conformance();
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/expected one module path/);
    const badTimeout = await conformance("test/fixtures/no-harness.ts", "--timeout", "soon");
    expect(badTimeout.code).toBe(2);
    const help = await conformance("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: assured-conformance <module>/);
  });
});
