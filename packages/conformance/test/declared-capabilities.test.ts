import { describe, expect, it } from "vitest";
import { failedNames, reasonOf, runFixture } from "./run-fixture.js";

describe("declared capabilities are checked, not trusted", () => {
  it("fails a store that declares persistent: false while a reopened instance keeps its data", async () => {
    const summary = await runFixture("undeclared-persistence.ts");
    expect(summary.ok).toBe(false);
    expect(failedNames(summary).sort()).toEqual([
      expect.stringMatching(/DedupStore .* > dedup capabilities .* > persistent: /),
      expect.stringMatching(/EventStore .* > capabilities .* > persistent: /),
    ]);
    for (const c of summary.cases.filter((c) => c.state === "failed")) {
      expect(c.reason).toMatch(
        /declares capabilities\.persistent: false, but a reopened instance kept .*declare persistent: true/,
      );
    }
  });

  it("fails, instead of skipping, the restart and cross-instance cases of a persistent store whose harness has no reopen", async () => {
    const summary = await runFixture("persistent-without-reopen.ts");
    const failed = failedNames(summary);
    expect(failed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/restart \(G5\) > keeps records, head and epoch/),
        expect.stringMatching(/dedup restart \(G9\) > keeps a stored response/),
        expect.stringMatching(/concurrency .* > shows one instance's append to another/),
      ]),
    );
    expect(
      summary.cases.filter((c) => /> (dedup )?restart \(/.test(c.name) && c.state !== "failed"),
    ).toEqual([]);
    expect(reasonOf(summary, /restart \(G5\) > keeps records/)).toMatch(
      /capabilities\.persistent: true, but the harness has no reopen\(\): add reopen to your harness/,
    );
    expect(reasonOf(summary, /shows one instance's append/)).toMatch(
      /capabilities\.sharedAcrossInstances: true, but the harness has no reopen\(\): add reopen to your harness/,
    );
    // Only the backend failure cases are skipped: this harness has no breakBackend either.
    const skipped = summary.cases.filter((c) => c.state === "skipped");
    expect(skipped.every((c) => /backend failure/.test(c.name))).toBe(true);
  });

  it("fails the cross-instance cases of a shared store given fewer than 2 instances", async () => {
    const summary = await runFixture("single-instance.ts");
    const failed = failedNames(summary);
    expect(failed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/prefix visibility: 50 appenders on 1 instances/),
        expect.stringMatching(/concurrent claims on 1 instances win/),
      ]),
    );
    for (const c of summary.cases.filter((c) => c.state === "failed")) {
      expect(c.reason).toMatch(
        /options\.instances is 1, but the cross-instance cases need at least 2 instances/,
      );
    }
  });

  it("fails a store that declares retentionByAge: false and silently ignores maxAgeMs", async () => {
    const summary = await runFixture("retention-by-age-ignored.ts");
    expect(failedNames(summary)).toEqual([
      expect.stringMatching(/capabilities .* > retentionByAge: /),
    ]);
    expect(reasonOf(summary, /retentionByAge: /)).toMatch(
      /declares capabilities\.retentionByAge: false, but it accepted maxAgeMs and ignored it: refuse .* INVALID_ARGUMENT/,
    );
  });

  it("fails a store that declares retentionByAge: false but applies maxAgeMs", async () => {
    const summary = await runFixture("retention-by-age-undeclared.ts");
    expect(failedNames(summary)).toEqual([
      expect.stringMatching(/capabilities .* > retentionByAge: /),
    ]);
    expect(reasonOf(summary, /retentionByAge: /)).toMatch(
      /declares capabilities\.retentionByAge: false, but it applies maxAgeMs: declare retentionByAge: true/,
    );
  });

  it("passes a store that declares retentionByAge: false and refuses maxAgeMs with INVALID_ARGUMENT", async () => {
    const summary = await runFixture("retention-by-age-refused.ts");
    expect(failedNames(summary)).toEqual([]);
    expect(summary.ok).toBe(true);
    const skipped = summary.cases.filter((c) => c.state === "skipped");
    expect(skipped.map((c) => c.reason)).toEqual(
      expect.arrayContaining(["the store declares capabilities.retentionByAge: false"]),
    );
  });
});
