#!/usr/bin/env node
// Rewrites imports from `@assured/core` into imports from the entry point that exports each
// symbol: `@assured/core` (applications), `@assured/core/store` (store authors) or
// `@assured/core/protocol` (the server and client bindings). The map is read from the entry
// files themselves (packages/core/package.json "exports", "@assured/source" condition, resolved
// with the TypeScript compiler API), so the script stays right when modules or symbols are added.
//
//   node scripts/split-core-imports.mjs [--check] [--no-biome] [files…]
//
// Without files: every file git knows (tracked and untracked, not ignored) ending in .ts, .tsx,
// .mts, .cts, .js, .mjs, .cjs, or .md (its ts/js code blocks), but CHANGELOG.md. Handles
// `import`/`export … from`, `import type`, `type` specifiers, aliases, multi-line lists,
// `await import("@assured/core")` destructured, `import("@assured/core").X` types, and
// `import * as ns` (moved when every `ns.Name` used is in one entry). Inside packages/core the
// relative paths of the entry files (`../src/index.js`) count as the entries too. A declaration
// whose names all come from its entry is left as written, so a second run changes nothing (a
// rewritten one loses the comments inside its braces). `--check` writes nothing and exits 1 if a
// file would change. Rewritten
// files are then formatted with `biome check --write` (import order, line width) unless
// `--no-biome`. Names no entry exports, and uses it cannot split, are listed and exit 2.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const corePackage = join(root, "packages", "core");
const CODE = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/;
const FENCE_LANGUAGES = new Set(["ts", "typescript", "tsx", "js", "javascript", "mjs", "mts"]);

/** The entry points: specifier → set of exported names, in package.json order. */
function readEntries() {
  const manifest = JSON.parse(readFileSync(join(corePackage, "package.json"), "utf8"));
  const entries = [];
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    if (typeof target !== "object" || !target["@assured/source"]) continue;
    const specifier = subpath === "." ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
    entries.push({ specifier, file: resolve(corePackage, target["@assured/source"]) });
  }
  const program = ts.createProgram(
    entries.map((entry) => entry.file),
    {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      noEmit: true,
      // Only the exports are read: no lib, no @types (10 times faster).
      noLib: true,
      types: [],
    },
  );
  const checker = program.getTypeChecker();
  for (const entry of entries) {
    const source = program.getSourceFile(entry.file);
    const module = source && checker.getSymbolAtLocation(source);
    if (!module) throw new Error(`cannot read the entry file ${entry.file}`);
    entry.names = new Set(checker.getExportsOfModule(module).map((symbol) => symbol.name));
  }
  return entries;
}

const entries = readEntries();

/**
 * How a file names each entry: the package specifiers, and for files inside packages/core the
 * relative paths of the entry files too (`../src/index.js`), kept in the style found.
 */
function specifiersOf(file) {
  const byText = new Map(entries.map((entry) => [entry.specifier, { entry, relative: false }]));
  const path = resolve(root, file);
  if (!relative(corePackage, path).startsWith("..")) {
    for (const entry of entries) {
      let text = relative(dirname(path), entry.file).replace(/\.ts$/, ".js").replaceAll("\\", "/");
      if (!text.startsWith(".")) text = `./${text}`;
      byText.set(text, { entry, relative: true, text });
    }
  }
  const spell = (entry, asRelative) =>
    asRelative
      ? [...byText.values()].find((item) => item.entry === entry && item.relative).text
      : entry.specifier;
  return { byText, spell };
}

/** The entry a name is taken from: the one it is imported from if that one exports it. */
function entryFor(name, current) {
  if (current.names.has(name)) return current;
  return entries.find((entry) => entry.names.has(name));
}

const problems = [];

function where(file, source, node, offset) {
  const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
  return `${file}:${line + 1 + offset}`;
}

/** A `{ a, type b, c as d }` list of import or export specifiers as text. */
function specifierList(specifiers, typeOnlyDeclaration) {
  const parts = specifiers.map(({ text, typeOnly }) =>
    typeOnly && !typeOnlyDeclaration ? `type ${text}` : text,
  );
  return `{ ${parts.join(", ")} }`;
}

/** The edits for one named import or export declaration. */
function splitDeclaration(node, source, label, specifiers) {
  const keyword = ts.isImportDeclaration(node) ? "import" : "export";
  const found = specifiers.byText.get(node.moduleSpecifier.text);
  const current = found.entry;
  const declarationTypeOnly = ts.isImportDeclaration(node)
    ? node.importClause.isTypeOnly
    : node.isTypeOnly;
  const elements = ts.isImportDeclaration(node)
    ? node.importClause.namedBindings.elements
    : node.exportClause.elements;
  const groups = new Map();
  const unknown = [];
  for (const element of elements) {
    const name = (element.propertyName ?? element.name).text;
    const target = entryFor(name, current);
    if (!target) {
      unknown.push(name);
      continue;
    }
    const text = element.propertyName
      ? `${element.propertyName.text} as ${element.name.text}`
      : element.name.text;
    if (!groups.has(target)) groups.set(target, []);
    groups.get(target).push({ text, typeOnly: declarationTypeOnly || element.isTypeOnly });
  }
  if (unknown.length > 0) {
    problems.push(`${label}: not exported by any entry of @assured/core: ${unknown.join(", ")}`);
    return [];
  }
  if (groups.size === 1 && groups.has(current)) return [];
  const declarations = entries
    .filter((entry) => groups.has(entry))
    .map((entry) => {
      const items = groups.get(entry);
      const allTypes = items.every((item) => item.typeOnly);
      const typeOnly = declarationTypeOnly || (keyword === "import" && allTypes);
      const list = specifierList(items, typeOnly);
      const from = specifiers.spell(entry, found.relative);
      return `${keyword}${typeOnly ? " type" : ""} ${list} from "${from}";`;
    });
  return [{ start: node.getStart(source), end: node.getEnd(), text: declarations.join("\n") }];
}

/** Names used as `ns.Name` (values and types) in a file. */
function namespaceUses(source, namespace) {
  const names = new Set();
  const visit = (node) => {
    if (
      ts.isPropertyAccessExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === namespace
    ) {
      names.add(node.name.text);
    } else if (
      ts.isQualifiedName(node) &&
      ts.isIdentifier(node.left) &&
      node.left.text === namespace
    ) {
      names.add(node.right.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return names;
}

/** Moves a module specifier string literal to the entry that exports every name given. */
function retarget(literal, names, source, label, what, specifiers) {
  const found = specifiers.byText.get(literal.text);
  const current = found.entry;
  const targets = new Set(names.map((name) => entryFor(name, current)));
  if (targets.has(undefined)) {
    const unknown = names.filter((name) => !entryFor(name, current));
    problems.push(`${label}: not exported by any entry of @assured/core: ${unknown.join(", ")}`);
    return [];
  }
  if (targets.size > 1) {
    const list = [...targets].map((entry) => entry.specifier).join(", ");
    problems.push(`${label}: ${what} takes names from several entries (${list}); split it by hand`);
    return [];
  }
  const [target] = targets;
  if (target === undefined || target === current) return [];
  const quote = source.text[literal.getStart(source)];
  const text = `${quote}${specifiers.spell(target, found.relative)}${quote}`;
  return [{ start: literal.getStart(source), end: literal.getEnd(), text }];
}

/** The edits of one piece of code (a file, or a markdown code block starting at line `offset`). */
function editsFor(code, file, offset, scriptKind) {
  const specifiers = specifiersOf(file);
  if (![...specifiers.byText.keys()].some((text) => code.includes(text))) return [];
  const source = ts.createSourceFile(file, code, ts.ScriptTarget.Latest, true, scriptKind);
  const edits = [];
  const isCore = (node) => node && ts.isStringLiteral(node) && specifiers.byText.has(node.text);
  const visit = (node) => {
    const label = () => where(file, source, node, offset);
    if (ts.isImportDeclaration(node) && isCore(node.moduleSpecifier)) {
      const clause = node.importClause;
      if (!clause) return;
      if (clause.name) {
        problems.push(`${label()}: a default import of ${node.moduleSpecifier.text}; it has none`);
      } else if (clause.namedBindings && ts.isNamespaceImport(clause.namedBindings)) {
        // `import * as ns`: moved whole to the one entry exporting every `ns.Name` used.
        const names = [...namespaceUses(source, clause.namedBindings.name.text)];
        const what = `import * as ${clause.namedBindings.name.text}`;
        edits.push(...retarget(node.moduleSpecifier, names, source, label(), what, specifiers));
      } else if (clause.namedBindings) {
        edits.push(...splitDeclaration(node, source, label(), specifiers));
      }
      return;
    }
    if (ts.isExportDeclaration(node) && isCore(node.moduleSpecifier)) {
      if (!node.exportClause || ts.isNamespaceExport(node.exportClause)) {
        problems.push(
          `${label()}: export * from ${node.moduleSpecifier.text} cannot be split; list the names`,
        );
      } else {
        edits.push(...splitDeclaration(node, source, label(), specifiers));
      }
      return;
    }
    if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      isCore(node.arguments[0])
    ) {
      const awaited = ts.isAwaitExpression(node.parent) ? node.parent : undefined;
      const declaration = awaited?.parent;
      if (
        declaration &&
        ts.isVariableDeclaration(declaration) &&
        ts.isObjectBindingPattern(declaration.name)
      ) {
        const names = declaration.name.elements.map((element) =>
          (element.propertyName ?? element.name).getText(source),
        );
        edits.push(...retarget(node.arguments[0], names, source, label(), "import()", specifiers));
      } else {
        problems.push(
          `${label()}: import("${node.arguments[0].text}") whose names cannot be read; check it by hand`,
        );
      }
    }
    if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      isCore(node.argument.literal)
    ) {
      if (node.qualifier) {
        let first = node.qualifier;
        while (ts.isQualifiedName(first)) first = first.left;
        edits.push(
          ...retarget(
            node.argument.literal,
            [first.text],
            source,
            label(),
            "import type",
            specifiers,
          ),
        );
      } else {
        problems.push(
          `${label()}: typeof import("${node.argument.literal.text}") without a name; check it by hand`,
        );
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edits;
}

function applyEdits(text, edits) {
  let result = text;
  for (const edit of [...edits].sort((a, b) => b.start - a.start)) {
    result = result.slice(0, edit.start) + edit.text + result.slice(edit.end);
  }
  return result;
}

function scriptKindOf(file) {
  if (file.endsWith(".tsx")) return ts.ScriptKind.TSX;
  if (/\.(js|mjs|cjs)$/.test(file)) return ts.ScriptKind.JS;
  return ts.ScriptKind.TS;
}

/** The rewritten text of a markdown file: each ts/js fenced block on its own. */
function rewriteMarkdown(text, file) {
  const fence = /^([ \t]*)(```+|~~~+)[ \t]*([A-Za-z]*)[^\n]*\n([\s\S]*?)^\1\2[ \t]*$/gm;
  return text.replace(fence, (block, _indent, _marks, language, code, index) => {
    if (!FENCE_LANGUAGES.has(language.toLowerCase())) return block;
    const line = text.slice(0, index).split("\n").length;
    const kind = language.toLowerCase().startsWith("j") ? ts.ScriptKind.JS : ts.ScriptKind.TS;
    const edits = editsFor(code, file, line, kind);
    if (edits.length === 0) return block;
    const head = block.slice(0, block.indexOf("\n") + 1);
    const tail = block.slice(head.length + code.length);
    return head + applyEdits(code, edits) + tail;
  });
}

function listFiles() {
  const output = execFileSync(
    "git",
    ["ls-files", "--cached", "--others", "--exclude-standard", "-z"],
    { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  return output
    .split("\0")
    .filter((file) => (CODE.test(file) || file.endsWith(".md")) && !file.endsWith("CHANGELOG.md"))
    .filter((file) => !file.split("/").includes("node_modules"))
    .map((file) => join(root, file));
}

const args = process.argv.slice(2);
const check = args.includes("--check");
const biome = !args.includes("--no-biome") && !check;
const given = args.filter((arg) => !arg.startsWith("--")).map((file) => resolve(file));
const files = given.length > 0 ? given : listFiles();

const changed = [];
for (const path of files) {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    continue; // deleted but still listed by git
  }
  const file = relative(root, path);
  if (!text.includes("@assured/core") && !file.startsWith("packages/core/")) continue;
  const rewritten = file.endsWith(".md")
    ? rewriteMarkdown(text, file)
    : applyEdits(text, editsFor(text, file, 0, scriptKindOf(file)));
  if (rewritten === text) continue;
  changed.push(path);
  if (!check) writeFileSync(path, rewritten);
}

console.log(
  `split-core-imports: entries ${entries.map((entry) => `${entry.specifier} (${entry.names.size})`).join(", ")}`,
);
console.log(
  `split-core-imports: ${changed.length} of ${files.length} files ${check ? "would change" : "rewritten"}`,
);
for (const path of changed) console.log(`  ${relative(root, path)}`);
if (biome && changed.length > 0) {
  try {
    execFileSync(
      join(root, "node_modules", ".bin", "biome"),
      ["check", "--write", "--no-errors-on-unmatched", "--files-ignore-unknown=true", ...changed],
      { cwd: root, stdio: "inherit" },
    );
  } catch {
    problems.push("biome check --write left problems in the rewritten files (listed above)");
  }
}
if (problems.length > 0) {
  console.error(
    `\nsplit-core-imports: ${problems.length} to fix by hand (add the names to an entry file, or split the use):`,
  );
  for (const problem of problems) console.error(`  ${problem}`);
  process.exitCode = 2;
} else if (check && changed.length > 0) {
  process.exitCode = 1;
}
