// `pnpm bench:chart`: redraws docs/bench-chart.svg from results/latest.json (the committed run),
// e.g. after a change to the chart's drawing. A complete `pnpm bench` run draws it itself.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { renderChart } from "./chart.js";
import type { BenchResults } from "./results.js";

const results = JSON.parse(
  readFileSync(new URL("../results/latest.json", import.meta.url), "utf8"),
) as BenchResults;
const file = new URL("../../docs/bench-chart.svg", import.meta.url);
writeFileSync(new URL(`${file.href}.tmp`), renderChart(results));
renameSync(new URL(`${file.href}.tmp`), file);
console.log("Wrote docs/bench-chart.svg from bench/results/latest.json");
