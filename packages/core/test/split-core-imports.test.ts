import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

// The codemod of the repository root (scripts/split-core-imports.mjs), run on files of a
// temporary directory: what it writes, that a second run writes nothing, what it refuses.
const script = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "..",
  "scripts",
  "split-core-imports.mjs",
);
const directory = mkdtempSync(join(tmpdir(), "split-core-imports-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Runs the codemod twice on the files given (one process per run: it reads the entries once). */
function codemod(files: Record<string, string>) {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(directory, name), text);
  const paths = Object.keys(files).map((name) => join(directory, name));
  const run = () => spawnSync("node", [script, "--no-biome", ...paths], { encoding: "utf8" });
  const first = run();
  const after = Object.fromEntries(
    Object.keys(files).map((name) => [name, readFileSync(join(directory, name), "utf8")]),
  );
  return { first, after, second: run() };
}

const MARKDOWN = [
  "Import `Sequencer` from `@assured/core`:",
  "",
  "```ts",
  'import { encode, nextFencingToken } from "@assured/core";',
  "```",
  "",
  "```sh",
  "echo 'import { Sequencer } from \"@assured/core\"'",
  "```",
  "",
].join("\n");
const UNKNOWN = [
  'import { encode, groupCommit } from "@assured/core";',
  'import * as core from "@assured/core";',
  "core.encode(core.Sequencer);",
  'export * from "@assured/core";',
  "",
].join("\n");

describe("scripts/split-core-imports.mjs", () => {
  const { first, after, second } = codemod({
    "mixed.ts": [
      "import {",
      "  AssuredError,",
      "  type EventStore,",
      "  Sequencer as Ordering,",
      "  // a comment",
      "  encode,",
      "  type FetchReply,",
      '} from "@assured/core";',
      'import type { AppendEntry, Position } from "@assured/core";',
      'import { FRAMES } from "@assured/core/store";',
      'export { type EventRecord, loadDriver } from "@assured/core";',
      'export type { HelloFrame } from "@assured/core";',
      'type Meter = import("@assured/core").MetricsMeter;',
      'const { newId } = await import("@assured/core");',
      "",
    ].join("\n"),
    "kept.ts": 'import { AssuredError, decode } from "@assured/core";\n',
    "guide.md": MARKDOWN,
    "namespace.ts":
      'import * as wire from "@assured/core";\nexport type F = wire.HelloFrame | typeof wire.FRAMES;\n',
    "unknown.ts": UNKNOWN,
  });

  it("moves each name (or a namespace import) to its entry, keeping type-only forms and aliases; a second run changes nothing", () => {
    expect(after["mixed.ts"]).toBe(
      [
        'import { AssuredError, encode } from "@assured/core";',
        'import type { EventStore } from "@assured/core/store";',
        'import { Sequencer as Ordering, type FetchReply } from "@assured/core/protocol";',
        'import type { Position } from "@assured/core";',
        'import type { AppendEntry } from "@assured/core/store";',
        'import { FRAMES } from "@assured/core/protocol";',
        'export { type EventRecord } from "@assured/core";',
        'export { loadDriver } from "@assured/core/store";',
        'export type { HelloFrame } from "@assured/core/protocol";',
        'type Meter = import("@assured/core/protocol").MetricsMeter;',
        'const { newId } = await import("@assured/core/store");',
        "",
      ].join("\n"),
    );
    expect(after["kept.ts"]).toBe('import { AssuredError, decode } from "@assured/core";\n');
    expect(after["namespace.ts"]).toBe(
      'import * as wire from "@assured/core/protocol";\nexport type F = wire.HelloFrame | typeof wire.FRAMES;\n',
    );
    expect(first.stdout).toContain("3 of 5 files rewritten");
    expect(second.stdout).toContain("0 of 5 files rewritten");
  });

  it("rewrites the ts code blocks of markdown, not its prose or other blocks", () => {
    expect(after["guide.md"]).toBe(
      MARKDOWN.replace(
        'import { encode, nextFencingToken } from "@assured/core";',
        'import { encode } from "@assured/core";\nimport { nextFencingToken } from "@assured/core/store";',
      ),
    );
  });

  it("lists names no entry exports and uses it cannot split, exits 2 and leaves them as written", () => {
    expect(first.status).toBe(2);
    expect(second.status).toBe(2);
    expect(first.stderr).toContain(
      "unknown.ts:1: not exported by any entry of @assured/core: groupCommit",
    );
    expect(first.stderr).toContain(
      "unknown.ts:2: import * as core takes names from several entries (@assured/core, @assured/core/protocol)",
    );
    expect(first.stderr).toContain("unknown.ts:4: export * from @assured/core cannot be split");
    expect(after["unknown.ts"]).toBe(UNKNOWN);
  });
});
