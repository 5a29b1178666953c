import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import * as app from "../src/index.js";
import * as protocol from "../src/protocol-entry.js";
import * as store from "../src/store-entry.js";

type Audience = "app" | "store" | "protocol" | "internal";

/**
 * Who each module of src/ is for: one audience, or one and the names that differ. Every export
 * of a module must be reachable from its audience's entry and from no other ("internal": from
 * none). A new module fails the test until it is given an audience here and in an entry file.
 */
const AUDIENCES: Record<string, Audience | [Audience, Record<string, Audience>]> = {
  "abort-watch": "internal",
  "append-entries": "store",
  backoff: "protocol",
  "bad-frame": "protocol",
  "client-frames": "protocol",
  "client-locks": "protocol",
  "client-storage": "protocol",
  "closest-name": "store",
  codec: ["app", { decodeConcatenated: "protocol" }],
  dedup: "protocol",
  "dedup-batch": "store",
  "dedup-key": "protocol",
  "dedup-store": "store",
  "dedup-store-arguments": "store",
  errors: ["app", { toStoreError: "store" }],
  "event-store": "store",
  "event-store-arguments": "store",
  "fencing-token": "store",
  fingerprint: "protocol",
  "group-commit": "protocol",
  "group-writer": "store",
  ids: "store",
  "lease-keeper": "protocol",
  "memory-backend": ["app", { MemoryClaim: "store", MemoryOwnerEntries: "store" }],
  "memory-dedup-owners": "internal",
  "memory-dedup-store": "app",
  "memory-event-store": "app",
  "memory-outage": "internal",
  "memory-stream-log": "store",
  "metric-instruments": "protocol",
  "metric-summary": "protocol",
  "metrics-meter": "protocol",
  "message-batch": "protocol",
  "msgpack-bounds": "protocol",
  "msgpack-strings": "internal",
  "optional-driver": "store",
  "page-cut": "store",
  outbox: "protocol",
  "outbox-adoption": ["internal", { OutboxChannel: "protocol", OutboxTimers: "protocol" }],
  "outbox-legacy": "internal",
  "outbox-options": [
    "internal",
    {
      DEFAULT_MAX_PAYLOAD_BYTES: "protocol",
      DEFAULT_MAX_RESULT_BYTES: "protocol",
      DEFAULT_WINDOW: "protocol",
      OutboxOptions: "protocol",
    },
  ],
  "outbox-session-store": "internal",
  "outbox-storage": [
    "internal",
    {
      MessageResult: "protocol",
      OutboxMessage: "protocol",
      ReceivedResult: "protocol",
      base64ToBytes: "protocol",
      bytesToBase64: "protocol",
    },
  ],
  "outbox-writer": "internal",
  protocol: "protocol",
  resume: "protocol",
  "retry-barrier": "protocol",
  runtime: "internal",
  sequencer: "protocol",
  "sequencer-input": "protocol",
  "sequencer-stream": "internal",
  "server-clock": "store",
  "transactional-entries": "store",
  "wire-base64": "internal",
  types: ["app", { Clock: "store", systemClock: "store" }],
  validate: [
    "store",
    {
      assertEpoch: "protocol",
      assertEventName: "protocol",
      assertId: "protocol",
      assertLimit: "protocol",
      assertOffset: "protocol",
      assertPosition: "protocol",
      isEventRecord: "protocol",
      MAX_EPOCH_LENGTH: "protocol",
    },
  ],
  "wire-page-read": "internal",
  "wire-records": "protocol",
};

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(packageDir, "src");
const ENTRY_FILES: Record<Exclude<Audience, "internal">, string> = {
  app: "index.ts",
  store: "store-entry.ts",
  protocol: "protocol-entry.ts",
};
const entryNames = new Set(Object.values(ENTRY_FILES));
const modules = readdirSync(src)
  .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts") && !entryNames.has(file))
  .map((file) => basename(file, ".ts"));

/** Every export of every module: where it is declared, and which entries reach it. */
function reachability() {
  const program = ts.createProgram(
    [...entryNames, ...modules.map((m) => `${m}.ts`)].map((file) => join(src, file)),
    {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      noEmit: true,
      skipLibCheck: true,
    },
  );
  const checker = program.getTypeChecker();
  const exportsOf = (file: string) => {
    const source = program.getSourceFile(join(src, file));
    const symbol = source && checker.getSymbolAtLocation(source);
    if (!symbol) throw new Error(`no module ${file}`);
    return checker.getExportsOfModule(symbol).map((exported) => ({
      name: exported.name,
      target: exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported,
    }));
  };
  const reachedBy = new Map<ts.Symbol, Audience[]>();
  for (const [audience, file] of Object.entries(ENTRY_FILES) as [Audience, string][]) {
    for (const { target } of exportsOf(file)) {
      reachedBy.set(target, [...(reachedBy.get(target) ?? []), audience]);
    }
  }
  const rows: { module: string; name: string; reached: Audience[] }[] = [];
  for (const module of modules) {
    const file = join(src, `${module}.ts`);
    for (const { name, target } of exportsOf(`${module}.ts`)) {
      const declaredHere = target.declarations?.some(
        (declaration) => declaration.getSourceFile().fileName === file,
      );
      if (declaredHere) rows.push({ module, name, reached: reachedBy.get(target) ?? [] });
    }
  }
  return { rows, reachedBy };
}

describe("entry points by audience", () => {
  const { rows, reachedBy } = reachability();

  it("gives every module of src/ an audience", () => {
    expect(modules.filter((module) => !(module in AUDIENCES))).toEqual([]);
    expect(Object.keys(AUDIENCES).filter((module) => !modules.includes(module))).toEqual([]);
  });

  it("reaches each export from exactly the entry of its audience (none when internal)", () => {
    const wrong = rows.flatMap(({ module, name, reached }) => {
      const audience = AUDIENCES[module];
      const expected = Array.isArray(audience) ? (audience[1][name] ?? audience[0]) : audience;
      const want = expected === "internal" ? [] : [expected];
      return JSON.stringify(reached) === JSON.stringify(want)
        ? []
        : [`${module}.ts ${name}: reached from [${reached}], wanted [${want}]`];
    });
    expect(wrong).toEqual([]);
    expect(rows.length).toBeGreaterThan(150);
  });

  it("exports nothing that no module of src/ declares, and no name twice", () => {
    const fromEntries = [...reachedBy.values()].flat().length;
    const fromModules = rows.filter((row) => row.reached.length > 0).length;
    expect(fromEntries).toBe(fromModules);
    expect([...reachedBy.values()].filter((audiences) => audiences.length > 1)).toEqual([]);
  });

  it("gives applications the errors, the codec, the record types and the memory stores only", () => {
    expect(Object.keys(app).sort()).toEqual([
      "ASSURED_ERROR_CODES",
      "AssuredError",
      "DEFAULT_MEMORY_MAX_DEDUP_ENTRIES",
      "DEFAULT_MEMORY_MAX_LENGTH",
      "DEFAULT_MEMORY_MAX_STREAMS",
      "MemoryDedupStore",
      "MemoryEventStore",
      "breakMemoryBackend",
      "createMemoryBackend",
      "decode",
      "encode",
      "isAssuredError",
    ]);
    for (const internal of ["FRAMES", "PROTOCOL_VERSION", "Sequencer", "Outbox", "Deduplicator"]) {
      expect(app).not.toHaveProperty(internal);
      expect(protocol).toHaveProperty(internal);
    }
    for (const helper of [
      "assertAppendEntries",
      "nextFencingToken",
      "loadDriver",
      "toStoreError",
    ]) {
      expect(app).not.toHaveProperty(helper);
      expect(store).toHaveProperty(helper);
    }
  });

  it("loads three entries with disjoint values", () => {
    const names = [app, store, protocol].flatMap((entry) => Object.keys(entry));
    expect(names.length).toBe(new Set(names).size);
  });

  it('declares each entry in package.json "exports" with its source, types and default', () => {
    const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
    const subpaths = { app: ".", store: "./store", protocol: "./protocol" };
    expect(Object.keys(manifest.exports).sort()).toEqual(
      [...Object.values(subpaths), "./package.json"].sort(),
    );
    for (const [audience, subpath] of Object.entries(subpaths)) {
      const file = ENTRY_FILES[audience as keyof typeof ENTRY_FILES];
      const stem = basename(file, ".ts");
      expect(manifest.exports[subpath]).toEqual({
        "@assured/source": `./src/${file}`,
        types: `./dist/${stem}.d.ts`,
        default: `./dist/${stem}.js`,
      });
      expect(Object.keys(manifest.exports[subpath])[0]).toBe("@assured/source");
      expect(existsSync(join(src, file))).toBe(true);
    }
  });
});
