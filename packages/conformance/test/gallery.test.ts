import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { failedNames, runFixture } from "./run-fixture.js";

/** The gallery's directory: one module per broken store, plus the helpers they share. */
const GALLERY = fileURLToPath(new URL("./fixtures/gallery", import.meta.url));

/** Event store groups, by their names in the kit. */
const OFFSETS = "offsets (G1: order)";
const READS = "reads";
const IDEMPOTENCY = "idempotency (duplicate publish)";
const CONCURRENCY = "concurrency (G2: prefix visibility, gapless offsets)";
const RESTART = "restart (G5)";
const RESET = "reset (G6: epoch)";
const RETENTION = "retention (G6: trimmed, G11)";
const TRIMMED_IDS = "trimmed ids (idempotency window = retention)";
const PAYLOADS = "payloads (exact round-trip)";
const HOSTILE_NAMES = "hostile stream names (G12)";
const CAPABILITIES = "capabilities (declared, then checked)";

/** Dedup store groups. */
const DEDUP_BASICS = "dedup basics (G9)";
const DEDUP_EXPIRY = "dedup expiry (G9: lease, TTL)";
const DEDUP_CONCURRENCY = "dedup concurrency (G9: exactly one winner)";
const DEDUP_RENEW = "dedup renew and fencing (§8: renewed, fenced leases)";
const DEDUP_INVALID = "dedup invalid arguments (G12)";
const DEDUP_QUOTA = "dedup quota per owner (DESIGN.md §8)";
const DEDUP_CAPABILITIES = "dedup capabilities (declared, then checked)";

/** What one gallery store must fail, and where. */
interface Defect {
  /** The module in test/fixtures/gallery. */
  file: string;
  /** The groups of the rule it breaks: every failed case must be in one of them. */
  groups: string[];
  /** A group the defect does not touch, run alongside: it must pass. */
  control: string;
  /** Cases that must fail (name patterns). */
  cases: RegExp[];
  /** What the reason of one failed case must say, where the kit words the rule. */
  reason?: RegExp;
}

/**
 * Each store runs only the groups of its rule and one control group (`grep`), so the gallery
 * stays well under a whole kit run per store. The model-based groups, which catch most of these
 * defects too, are not run here: the example cases name each rule on their own.
 */
const DEFECTS: Defect[] = [
  {
    file: "undeclared-sharing-events.ts",
    groups: [CAPABILITIES],
    control: OFFSETS,
    cases: [/ > capabilities .* > sharedAcrossInstances: /],
    reason:
      /declares capabilities\.sharedAcrossInstances: false, but a second instance .* saw its append: declare sharedAcrossInstances: true/,
  },
  {
    file: "age-retention-on-read.ts",
    groups: [TRIMMED_IDS, RETENTION],
    control: OFFSETS,
    cases: [
      /trimmed ids .* > appends an id again, as a new event, once its age expired/,
      /retention .* > reports earliest = head \+ 1 when age trimmed everything/,
    ],
    reason: /an id is held only while its event is retained/,
  },
  {
    file: "read-page-gap.ts",
    groups: [READS, CONCURRENCY],
    control: OFFSETS,
    cases: [/ > reads > reads a page of more than 1,000 records with no gap/],
    reason: /a record lost inside the page\): record \d+ out of sequence/,
  },
  {
    file: "empty-read-behind-earliest.ts",
    groups: [RETENTION, TRIMMED_IDS],
    control: OFFSETS,
    cases: [/retention .* > starts a read from a trimmed position at earliest/],
  },
  {
    file: "joined-id-keys.ts",
    groups: [HOSTILE_NAMES],
    control: IDEMPOTENCY,
    cases: [/hostile stream names .* > keeps ids apart in streams whose name and id join alike/],
    reason: /a stream's ids must not meet another stream's/,
  },
  {
    file: "lowercased-names.ts",
    groups: [HOSTILE_NAMES],
    control: OFFSETS,
    cases: [
      /hostile stream names .* > gives each hostile name a log of its own/,
      /hostile stream names .* > keeps names differing only by case/,
    ],
  },
  {
    file: "nfc-names.ts",
    groups: [HOSTILE_NAMES],
    control: OFFSETS,
    cases: [
      /hostile stream names .* > gives each hostile name a log of its own/,
      /hostile stream names .* > keeps names differing only by case, a trailing space or Unicode normalization/,
    ],
  },
  {
    file: "short-hash-ids.ts",
    groups: [IDEMPOTENCY, CONCURRENCY],
    control: OFFSETS,
    cases: [/idempotency .* > keeps 2,000 distinct ids, appended 100 a call, apart/],
    reason: /distinct ids answered as duplicates/,
  },
  {
    file: "prefix-reset.ts",
    groups: [HOSTILE_NAMES],
    control: RESET,
    cases: [
      /hostile stream names .* > resets one hostile name without touching names that look alike/,
    ],
  },
  {
    file: "retention-forgotten-on-reopen.ts",
    groups: [RETENTION],
    control: RESTART,
    cases: [/retention .* > keeps applying length retention in an instance reopened on the data/],
    reason: /must still trim to maxLength/,
  },
  {
    file: "epoch-renewed-on-reopen.ts",
    groups: [RESTART],
    control: RESET,
    cases: [/restart \(G5\) > keeps a reset's new epoch/],
  },
  {
    file: "racy-offsets.ts",
    groups: [CONCURRENCY],
    control: IDEMPOTENCY,
    cases: [/concurrency .* > gives 50 concurrent appenders on one instance every offset/],
  },
  {
    file: "head-creates-epoch.ts",
    groups: [OFFSETS, READS, HOSTILE_NAMES],
    control: RESET,
    cases: [
      /offsets .* > has epoch "", head 0 and earliest 1 before the first append; head and read create nothing/,
      / > reads > reads an unknown stream as empty/,
    ],
  },
  {
    file: "aliased-payloads.ts",
    groups: [PAYLOADS],
    control: OFFSETS,
    cases: [
      /payloads .* > is not altered when the caller changes its array after append/,
      /payloads .* > is not altered when a reader changes a record it read/,
    ],
  },
  {
    file: "view-offset-ignored.ts",
    groups: [PAYLOADS],
    control: OFFSETS,
    cases: [/payloads .* > stores only the bytes of a view into a larger buffer/],
    reason: /subarray payload: byte 0 is 9, expected 1/,
  },
  {
    file: "undeclared-sharing-dedup.ts",
    groups: [DEDUP_CAPABILITIES],
    control: DEDUP_BASICS,
    cases: [/dedup capabilities .* > sharedAcrossInstances: /],
    reason:
      /declares capabilities\.sharedAcrossInstances: false, but a second instance .* saw its claim: declare sharedAcrossInstances: true/,
  },
  {
    file: "local-fingerprints.ts",
    groups: [DEDUP_CONCURRENCY],
    control: DEDUP_BASICS,
    cases: [/dedup concurrency .* > answers conflict on another instance to another fingerprint/],
    reason: /keep the fingerprint with the claim in the shared data/,
  },
  {
    file: "local-error-flag.ts",
    groups: [DEDUP_CONCURRENCY],
    control: DEDUP_BASICS,
    cases: [/dedup concurrency .* > shows an application error \(ok: false\)/],
    reason: /keep the ok flag with the response in the shared data/,
  },
  {
    file: "response-by-reference.ts",
    groups: [DEDUP_BASICS],
    control: DEDUP_EXPIRY,
    cases: [/dedup basics .* > is not altered when the caller changes the response/],
    reason: /copy it (in|out)/,
  },
  {
    file: "release-deletes-response.ts",
    groups: [DEDUP_BASICS],
    control: DEDUP_EXPIRY,
    cases: [/dedup basics .* > refuses release with the token of a completed claim/],
    reason: /release after complete/,
  },
  {
    file: "complete-any-token.ts",
    groups: [DEDUP_BASICS, DEDUP_EXPIRY, DEDUP_RENEW],
    control: DEDUP_CONCURRENCY,
    cases: [
      /dedup basics .* > refuses complete and release with a wrong token/,
      /dedup expiry .* > refuses the old holder's complete and release after another took the key over/,
    ],
  },
  {
    file: "renew-any-token.ts",
    groups: [DEDUP_RENEW],
    control: DEDUP_BASICS,
    cases: [/dedup renew .* > refuses renew by a token that was taken over/],
  },
  {
    file: "fencing-not-increasing.ts",
    groups: [DEDUP_RENEW],
    control: DEDUP_BASICS,
    cases: [/dedup renew .* > gives fencing tokens that grow with every claim/],
  },
  {
    file: "fencing-restarts-after-drop.ts",
    groups: [DEDUP_RENEW],
    control: DEDUP_BASICS,
    cases: [
      /dedup renew .* > gives a key claimed again after its entry was dropped a fencing token larger than a stalled holder's/,
    ],
    reason: /exceeds the stalled holder's/,
  },
  {
    file: "closed-unknown-keys.ts",
    groups: [DEDUP_INVALID],
    control: DEDUP_BASICS,
    cases: [
      /dedup invalid arguments .* > rejects every method with STORE_CLOSED after close for keys it never saw/,
    ],
    reason: /check close before answering false/,
  },
  {
    file: "wall-clock-leases.ts",
    groups: [DEDUP_BASICS, DEDUP_EXPIRY, DEDUP_RENEW, DEDUP_QUOTA],
    control: DEDUP_CONCURRENCY,
    cases: [/dedup expiry .* > stays pending until the lease runs out/],
  },
];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The `grep` that runs only these groups. Vitest matches it against the suite, group and case
 * names joined by spaces; the suite name ends with the module's path, which has no space.
 */
function onlyGroups(groups: readonly string[]): string {
  return `conformance: \\S+ (${groups.map(escapeRegExp).join("|")}) `;
}

/** The group of a case name `suite > group > case`. */
function groupOf(name: string): string {
  return name.split(" > ")[1] ?? "";
}

describe("the gallery of broken stores: each fails the rule it breaks, and only that", () => {
  it("has at least 20 stores, each with one defect, and checks every one of them", () => {
    expect(DEFECTS.length).toBeGreaterThanOrEqual(20);
    const broken = readdirSync(GALLERY).filter((file) =>
      readFileSync(join(GALLERY, file), "utf8").includes("BROKEN on purpose"),
    );
    expect(DEFECTS.map((d) => d.file).sort()).toEqual(broken.sort());
  });

  for (const defect of DEFECTS) {
    it(`fails ${defect.file} in ${defect.groups.join(", ")}`, async () => {
      const run = [...defect.groups, defect.control];
      const summary = await runFixture(`gallery/${defect.file}`, false, onlyGroups(run));
      expect(summary.errors).toEqual([]);
      expect(summary.ok).toBe(false);
      // Only the groups asked for ran (the grep), the control group among them, all passing.
      expect(summary.cases.map((c) => groupOf(c.name))).toContain(defect.control);
      for (const c of summary.cases) expect(run).toContain(groupOf(c.name));
      const control = summary.cases.filter((c) => groupOf(c.name) === defect.control);
      expect(control.filter((c) => c.state === "passed").length).toBeGreaterThan(0);
      // Every failure is in a group of the broken rule; the intended cases are among them.
      const failed = failedNames(summary);
      for (const name of failed) expect(defect.groups).toContain(groupOf(name));
      expect(failed).toEqual(
        expect.arrayContaining(defect.cases.map((c) => expect.stringMatching(c))),
      );
      if (defect.reason !== undefined) {
        const reasons = summary.cases.filter((c) => c.state === "failed").map((c) => c.reason);
        expect(reasons).toEqual(expect.arrayContaining([expect.stringMatching(defect.reason)]));
      }
    }, 120_000);
  }
});
