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
    expect(stdout).toMatch(/^Cases: (\d+) passed, 0 failed, 0 skipped \(\1 total\)$/m);
    expect(stdout).toMatch(/^Result: PASS$/m);
    expect(code).toBe(0);
  });

  it("prints a progress line per group of cases with its passed, failed and skipped counts", async () => {
    const { stdout } = await conformance("test/fixtures/private-memory-harness.ts", ...source);
    expect(stdout).toMatch(
      /^✓ EventStore conformance: memory stores, private \(no reopen\) > offsets .*: \d+ passed, 0 failed, 0 skipped$/m,
    );
    expect(stdout).toMatch(
      /^- EventStore conformance: memory stores, private \(no reopen\) > restart \(G5\): 0 passed, 0 failed, 8 skipped$/m,
    );
  });

  it("passes with skips, saying how many; fails on any skip with --strict", async () => {
    const lenient = await conformance("test/fixtures/private-memory-harness.ts", ...source);
    expect(lenient.code).toBe(0);
    expect(lenient.stdout).toMatch(/^Result: PASS \(\d+ skipped, see above\)$/m);
    const strict = await conformance(
      "test/fixtures/private-memory-harness.ts",
      "--strict",
      ...source,
    );
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(
      /^ {2}- .*restart \(G5\) > .* \(the store declares capabilities\.persistent: false\)$/m,
    );
    expect(strict.stdout).toMatch(/^Result: FAIL \(--strict: \d+ skipped, see above\)$/m);
  });

  it("reports identical failures once, with how many cases they broke and what to fix", async () => {
    const { code, stdout } = await conformance(
      "test/fixtures/persistent-without-reopen.ts",
      ...source,
    );
    expect(code).toBe(1);
    expect(stdout).toMatch(/^ {2}✗ \d+ cases failed with the same error$/m);
    expect(
      stdout.match(
        /fix: the store declares capabilities\.persistent: true, but the harness has no reopen\(\): add reopen to your harness/g,
      ),
    ).toHaveLength(1);
    expect(stdout).toMatch(/^ {6}in: EventStore conformance: .* > restart \(G5\) > /m);
  });

  it("exits 1 and names each failing case with its reason", async () => {
    const { code, stdout } = await conformance("test/fixtures/broken-dedup-race.ts", ...source);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^Failed:$/m);
    expect(stdout).toMatch(
      /✗ .*dedup concurrency .* > lets exactly one of 50 concurrent claims on one instance win/,
    );
    expect(stdout).toMatch(/^ {6}fix: claims that won/m);
    expect(stdout).toMatch(/^Skipped:$/m);
    expect(stdout).toMatch(/\(the store declares capabilities\.persistent: false\)/);
    expect(stdout).toMatch(/^Result: FAIL$/m);
  });

  it("exits 1 when a module exports one harness without saying why it omits the other", async () => {
    const { code, stdout } = await conformance("test/fixtures/event-store-only.ts", ...source);
    expect(code).toBe(1);
    expect(stdout).toMatch(/ERROR .*exports "eventStore" but not "dedupStore".*export const omit/);
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

  it("runs and reports only the cases matching --grep; exits 2 on a pattern that is no regular expression", async () => {
    // broken-epoch fails only its restart and cross-instance cases: its reset group alone passes.
    const { code, stdout } = await conformance(
      "test/fixtures/broken-epoch.ts",
      "--grep",
      "reset \\(G6",
      "--json",
      ...source,
    );
    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as { cases: { name: string; state: string }[] };
    expect(summary.cases.length).toBeGreaterThan(0);
    for (const c of summary.cases) {
      expect(c.name).toMatch(/ > reset \(G6: epoch\) > /);
      expect(c.state).toBe("passed");
    }
    const bad = await conformance("test/fixtures/broken-epoch.ts", "--grep", "(", ...source);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/grep must be a regular expression/);
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
