import { describe, expect, it } from "vitest";
import { escapeXml, renderChart, targetScore } from "../src/chart.js";
import { checkTargets } from "../src/targets.js";
import { emptyResults, live, section } from "./fixture.js";

describe("targetScore", () => {
  it("is measured ÷ goal for at-least goals and goal ÷ measured for at-most goals", () => {
    const base = { target: "t", note: "", met: true };
    expect(targetScore({ ...base, measured: 3, goal: 6 })).toBe(0.5);
    expect(targetScore({ ...base, measured: 1.5, goal: 3, direction: "atMost", unit: "s" })).toBe(
      2,
    );
    expect(targetScore({ ...base, measured: null, goal: 3 })).toBeNull();
  });
});

describe("renderChart", () => {
  const results = emptyResults({
    live: [
      section("1 client <&>", 1, 10, [
        live("socketio", 100),
        live("socketio-batched", 150),
        live("assured-memory", 50),
        { system: "assured-redis", label: "Assured, redis", clients: 1, error: "unavailable" },
      ]),
    ],
  });
  results.targets = checkTargets(results);
  const svg = renderChart(results);

  it("draws one bar per target and per live system but plain Socket.IO, coloured by outcome", () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("<title>Assured benchmark of 2026-11-29T18:00:00.000Z");
    // 2 missed targets (plain, batched); live bars: batched 1.5× (a baseline), memory 0.5×;
    // redis failed and has no bar.
    expect(results.targets).toHaveLength(2);
    expect(svg.match(/class="missed"/g)).toHaveLength(3);
    expect(svg.match(/class="baseline"/g)).toHaveLength(1);
    expect(svg.match(/class="met"/g)).toBeNull();
    expect(svg).toContain("not measured");
    expect(svg).toContain("0.50× (goal ≥ 1.00×)");
  });

  it("escapes labels and clamps bars at twice the reference", () => {
    expect(svg).toContain("1 client &lt;&amp;&gt;");
    expect(svg).not.toContain("<&>");
    const widths = [...svg.matchAll(/<rect x="\d+" y="\d+" width="([\d.]+)"/g)].map((m) =>
      Number(m[1]),
    );
    expect(Math.max(...widths)).toBeLessThanOrEqual(300);
  });

  it("renders results written before storms and memory were measured", () => {
    const old = emptyResults();
    delete old.storm;
    delete old.retainedMemory;
    expect(renderChart({ ...old, targets: checkTargets(old) })).toContain("</svg>");
  });

  it("escapes every XML special character", () => {
    expect(escapeXml(`a<b>&"c"`)).toBe("a&lt;b&gt;&amp;&quot;c&quot;");
  });
});
