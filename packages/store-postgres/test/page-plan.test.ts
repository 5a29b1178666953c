import { describe, expect, it } from "vitest";
import { pageQuery } from "../src/log-reads.js";
import { tableNames } from "../src/tables.js";
import { useStores } from "./fixture.js";

const stores = useStores();

interface PlanNode {
  "Node Type": string;
  "Parent Relationship"?: string;
  "Actual Loops": number;
  Plans?: PlanNode[];
}

/** Every node of an EXPLAIN (FORMAT JSON) plan, depth first. */
function nodesOf(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodesOf)];
}

describe("the page statement", () => {
  // Inlined into the page's join, the state's `earliest` subquery ran once per row of the page:
  // 1,000 index probes, 9 of a 1,000-event page's 11 ms.
  it.each([
    ["read", undefined],
    ["readPacked", 1 << 20],
  ])("computes the stream's state once per page (%s)", async (_, maxBytes) => {
    const schema = stores.schema("plan");
    const store = stores.events(schema, { retention: { maxLength: 10_000 } });
    const payload = new Uint8Array(16);
    await store.append(
      "s",
      Array.from({ length: 200 }, () => ({ name: "e", payload })),
    );
    const query = pageQuery(
      tableNames(schema, "assured_", false),
      "s",
      50,
      100,
      Date.now(),
      { maxLength: 10_000 },
      maxBytes,
    );
    const pool = await stores.admin();
    const { rows } = await pool.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>({
      text: `EXPLAIN (ANALYZE, FORMAT JSON) ${query.text}`,
      values: query.values,
    });
    const nodes = nodesOf(rows[0]!["QUERY PLAN"][0].Plan);
    const subplans = nodes.filter((n) => n["Parent Relationship"] === "SubPlan");
    for (const node of subplans) expect(node["Actual Loops"]).toBeLessThanOrEqual(1);
    // The page itself: 100 events read.
    const page = await store.read("s", { after: 50, limit: 100 });
    expect(page.records.map((r) => r.offset)).toEqual(
      Array.from({ length: 100 }, (_, i) => 51 + i),
    );
  });
});
