import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type ConformanceSummary, runConformance } from "../src/runner.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const run = (name: string) =>
  runConformance({ module: fixture(name), conditions: ["@assured/source"], timeoutMs: 20_000 });

function failedNames(summary: ConformanceSummary): string[] {
  return summary.cases.filter((c) => c.state === "failed").map((c) => c.name);
}

describe("the kit run programmatically", () => {
  it("passes every case of the memory stores on a shared backend", async () => {
    const summary = await run("memory-harness.ts");
    expect(failedNames(summary)).toEqual([]);
    expect(summary.errors).toEqual([]);
    expect(summary).toMatchObject({ ok: true, failed: 0, skipped: 0 });
    expect(summary.passed).toBeGreaterThanOrEqual(80);
  });

  it("skips only the cases a store declares it cannot do, each with the declared reason", async () => {
    const summary = await run("private-memory-harness.ts");
    expect(failedNames(summary)).toEqual([]);
    expect(summary.ok).toBe(true);
    const skipped = summary.cases.filter((c) => c.state === "skipped");
    expect(skipped.length).toBeGreaterThan(0);
    for (const outcome of skipped) {
      expect(outcome.reason).toMatch(
        /the store declares capabilities\.(sharedAcrossInstances|persistent): false/,
      );
      expect(outcome.name).toMatch(/concurrency|restart|instance/);
    }
    expect(summary.passed + skipped.length).toBe(summary.cases.length);
  });

  it("fails a store that lets a reader see offset n+1 before n, in the prefix visibility case", async () => {
    const summary = await run("broken-visibility.ts");
    expect(summary.ok).toBe(false);
    const failed = failedNames(summary);
    expect(failed).toEqual([expect.stringMatching(/ > prefix visibility: 50 appenders/)]);
    const reason = summary.cases.find((c) => c.state === "failed")?.reason ?? "";
    expect(reason).toMatch(/a reader saw a gap/);
  });

  it("fails a store that forgets its epochs when reopened, in the restart cases", async () => {
    const summary = await run("broken-epoch.ts");
    const failed = failedNames(summary);
    expect(failed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/restart \(G5\) > keeps records, head and epoch/),
        expect.stringMatching(/restart \(G5\) > continues at head \+ 1 in the same epoch/),
        expect.stringMatching(/restart \(G5\) > keeps a reset's new epoch/),
        expect.stringMatching(/concurrency .* > shows one instance's append to another/),
      ]),
    );
    expect(failed.every((name) => /restart|concurrency/.test(name))).toBe(true);
  });

  it("fails a store that ignores idempotency ids, in the idempotency cases", async () => {
    const summary = await run("broken-idempotency.ts");
    const failed = failedNames(summary);
    expect(failed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/idempotency .* > returns the original offset with duplicate: true/),
        expect.stringMatching(/idempotency .* > treats the second of two equal ids in one batch/),
        expect.stringMatching(/idempotency .* > appends an id once when 20 appends/),
        expect.stringMatching(/retention .* > still detects a retained id/),
      ]),
    );
    expect(summary.skipped).toBeGreaterThan(0);
    expect(summary.cases.filter((c) => c.state === "skipped").every((c) => c.reason)).toBe(true);
  });

  it("fails a dedup store whose claim races, in the one-winner case", async () => {
    const summary = await run("broken-dedup-race.ts");
    const failed = failedNames(summary);
    expect(failed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/exactly one of 50 concurrent claims on one instance/),
      ]),
    );
    const reason = summary.cases.find((c) => /exactly one of 50/.test(c.name))?.reason ?? "";
    expect(reason).toMatch(/claims that won/);
  });

  it("fails a dedup store whose quota check races, in the concurrent quota cases, even in optimistic mode", async () => {
    const summary = await run("broken-dedup-quota.ts");
    const failed = failedNames(summary);
    expect(failed).toEqual([
      expect.stringMatching(/never leaves an owner above its quota under 20 concurrent claims/),
    ]);
    const reason = summary.cases.find((c) => c.name === failed[0])?.reason ?? "";
    expect(reason).toMatch(/concurrent claims that won: expected 20 to be less than or equal to 5/);
  });

  it("reports a module that exports no harness as an error naming the expected exports", async () => {
    const summary = await run("no-harness.ts");
    expect(summary.ok).toBe(false);
    expect(summary.cases).toEqual([]);
    expect(summary.errors.join("\n")).toMatch(
      /exports no harness \(it exports store\).*"eventStore"/,
    );
  });

  it("rejects a module path that does not exist with INVALID_ARGUMENT", async () => {
    await expect(run("missing.ts")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
