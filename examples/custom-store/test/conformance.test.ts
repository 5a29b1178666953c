import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const exampleDir = fileURLToPath(new URL("..", import.meta.url));

/** The `assured-conformance` bin, as installed from @assured/conformance (run `pnpm build` first). */
function conformanceBin(): string {
  const manifestPath = createRequire(import.meta.url).resolve("@assured/conformance/package.json");
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as {
    bin: Record<string, string>;
  };
  return join(dirname(manifestPath), manifest.bin["assured-conformance"]!);
}

it("passes the Assured conformance kit, run through its CLI", async () => {
  // `--conditions @assured/source` lets this workspace resolve @assured/core to its sources;
  // a store outside the workspace runs just `assured-conformance src/harness.ts`.
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [conformanceBin(), "src/harness.ts", "--conditions", "@assured/source"],
    { cwd: exampleDir },
  );
  expect(stdout).toMatch(/^Assured conformance: src\/harness\.ts$/m);
  const totals = /^Cases: (\d+) passed, 0 failed, (\d+) skipped/m.exec(stdout);
  expect(totals, stdout).not.toBeNull();
  expect(Number(totals![1])).toBeGreaterThanOrEqual(70);
  // Only the cross-instance cases are skipped, each with the capability it needs.
  const skipped = stdout.split("\n").filter((line) => line.startsWith("  - "));
  expect(skipped).toHaveLength(Number(totals![2]));
  for (const line of skipped) expect(line).toMatch(/capabilities\.sharedAcrossInstances: false\)$/);
  // Without --strict a run with skips passes, and says how many it skipped.
  expect(stdout).toMatch(new RegExp(`^Result: PASS \\(${totals![2]} skipped, see above\\)$`, "m"));
}, 120_000);
