import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type ConformanceSummary, runConformance } from "../src/runner.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const run = (name: string, grep?: string) =>
  runConformance({
    module: fixture(name),
    conditions: ["@assured/source"],
    timeoutMs: 20_000,
    ...(grep === undefined ? {} : { grep }),
  });

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
      if (/backend failure/.test(outcome.name)) {
        expect(outcome.reason).toMatch(/^the harness has no breakBackend\(\): add it/);
        continue;
      }
      expect(outcome.reason).toMatch(
        /the store declares capabilities\.(sharedAcrossInstances|persistent): false/,
      );
      expect(outcome.name).toMatch(/concurrency|restart|instance/);
    }
    expect(skipped.filter((c) => /backend failure/.test(c.name))).toHaveLength(4);
    expect(summary.passed + skipped.length).toBe(summary.cases.length);
  });

  it("fails a store that lets a reader see offset n+1 before n, in the prefix visibility case", async () => {
    const summary = await run("broken-visibility.ts");
    expect(summary.ok).toBe(false);
    const failed = failedNames(summary);
    expect(failed).toContainEqual(expect.stringMatching(/ > prefix visibility: 50 appenders/));
    // The model-based concurrent case may catch it too (random rounds).
    expect(failed.filter((name) => !/prefix visibility|model-based/.test(name))).toEqual([]);
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
    expect(failed.every((name) => /restart|concurrency|model-based/.test(name))).toBe(true);
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

  it("fails a dedup store that refuses a holder's complete beside its own renewal, in the renewal cases", async () => {
    const summary = await run("broken-dedup-own-renewal.ts", "own renewal");
    const failed = failedNames(summary);
    expect(failed).toEqual([
      expect.stringMatching(/while its own renewal is in flight \(20 keys each\)/),
      expect.stringMatching(/while its own renewals and others' claims are in flight/),
    ]);
    const reason = summary.cases.find((c) => /generated overlaps/.test(c.name))?.reason ?? "";
    expect(reason).toMatch(/also while its own renewal is in flight/);
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

  it("fails a write-behind store (durable only on close) in the crash restart cases, and only those", async () => {
    const summary = await run("broken-write-behind.ts");
    const failed = failedNames(summary);
    expect(failed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/restart \(G5\) > keeps records, head and epoch .*after a crash$/),
        expect.stringMatching(/restart \(G5\) > continues at head \+ 1 .*after a crash$/),
        expect.stringMatching(/restart \(G5\) > still recognises an id .*after a crash$/),
        expect.stringMatching(/restart \(G5\) > keeps a reset's new epoch.*after a crash$/),
        expect.stringMatching(/dedup restart \(G9\) > keeps a stored response.*after a crash$/),
        expect.stringMatching(/dedup restart \(G9\) > keeps a held lease.*after a crash$/),
      ]),
    );
    // The model-based cases crash stores in their random sequences too, so they may fail as well.
    const others = failed.filter((name) => !/after a crash$/.test(name));
    expect(others.every((name) => /> (dedup )?model/.test(name))).toBe(true);
    expect(failed.length - others.length).toBe(6);
    const afterClose = summary.cases.filter((c) => /reopened after close$/.test(c.name));
    expect(afterClose.map((c) => c.state)).toEqual(Array(6).fill("passed"));
  });

  it("fails a store that lets a raw backend error escape, in the backend failure cases only", async () => {
    const summary = await run("broken-raw-errors.ts");
    const failed = failedNames(summary);
    expect(failed).toHaveLength(4);
    for (const name of failed) {
      expect(name).toMatch(/> (dedup )?backend failure \(STORE_UNAVAILABLE, recovery\) > /);
    }
    const reason = summary.cases.find((c) => c.state === "failed")?.reason ?? "";
    expect(reason).toMatch(/got a raw error: Error: connect ECONNREFUSED.*toStoreError/);
  });

  it("fails a store whose calls hang while the backend is down, naming the hang", async () => {
    const summary = await run("broken-offline-queue.ts");
    const failed = failedNames(summary);
    expect(failed).toHaveLength(4);
    for (const name of failed) expect(name).toMatch(/backend failure/);
    for (const outcome of summary.cases.filter((c) => c.state === "failed")) {
      expect(outcome.reason).toMatch(/did not settle within \d+ ms: fail fast with AssuredError/);
    }
  });

  it("reports a module that exports no harness as an error naming the expected exports", async () => {
    const summary = await run("no-harness.ts");
    expect(summary.ok).toBe(false);
    expect(summary.cases).toEqual([]);
    expect(summary.errors.join("\n")).toMatch(
      /exports no harness \(it exports store\).*"eventStore"/,
    );
  });

  it("runs only the cases grep matches, reports an error when none does, and rejects a bad pattern", async () => {
    const only = await runConformance({
      module: fixture("broken-epoch.ts"),
      conditions: ["@assured/source"],
      grep: "conformance: \\S+ reset \\(G6",
    });
    expect(only.cases.length).toBeGreaterThan(0);
    expect(only.cases.every((c) => / > reset \(G6: epoch\) > /.test(c.name))).toBe(true);
    expect(only).toMatchObject({ ok: true, failed: 0, skipped: 0, errors: [] });
    const none = await runConformance({
      module: fixture("broken-epoch.ts"),
      conditions: ["@assured/source"],
      grep: "no case is called this",
    });
    expect(none).toMatchObject({ ok: false, cases: [] });
    expect(none.errors).toEqual(['No case name matches grep "no case is called this".']);
    await expect(run("broken-epoch.ts", "(")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("rejects a module path that does not exist with INVALID_ARGUMENT", async () => {
    await expect(run("missing.ts")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
