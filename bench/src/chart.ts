// The SVG chart of one run (docs/bench-chart.svg): every target as a bar of how far it is from
// its goal, and every live workload's throughput as a ratio to plain Socket.IO. Plain SVG text,
// no dependency; `renderChart` is pure, so the chart follows from the results alone.
import { formatTargetValue } from "./report.js";
import type { BenchResults, TargetCheck } from "./results.js";

const WIDTH = 960;
const LABEL_WIDTH = 500;
const BAR_WIDTH = 300;
const ROW = 18;
/** Longest label in characters: about what fits in LABEL_WIDTH at 11 px. */
const MAX_LABEL = 80;
const GAP = 4;
/** Bars are clamped at this multiple of the goal (or of plain Socket.IO). */
const MAX_SCALE = 2;

/** Escapes text for an SVG text node or attribute. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/**
 * How close a target is, as a multiple of its goal: measured ÷ goal for "at least" targets,
 * goal ÷ measured for "at most" ones, so 1 is exactly the goal and more is better. Null when
 * nothing was measured.
 */
export function targetScore(t: TargetCheck): number | null {
  if (t.measured === null || !Number.isFinite(t.measured)) return null;
  if (t.direction === "atMost") return t.measured <= 0 ? MAX_SCALE : t.goal / t.measured;
  return t.goal === 0 ? MAX_SCALE : t.measured / t.goal;
}

interface Bar {
  label: string;
  /** Bar length as a multiple of the reference line (1), or null for "not measured". */
  value: number | null;
  text: string;
  /** The colour: met (green), missed (red), or a Socket.IO baseline (grey). */
  kind: "met" | "missed" | "baseline";
}

function panel(title: string, reference: string, bars: readonly Bar[], top: number): string[] {
  const x0 = LABEL_WIDTH;
  const unit = BAR_WIDTH / MAX_SCALE;
  const height = bars.length * (ROW + GAP);
  const out = [
    `<text x="8" y="${top + 14}" class="title">${escapeXml(title)}</text>`,
    `<line x1="${x0 + unit}" y1="${top + 22}" x2="${x0 + unit}" y2="${top + 26 + height}" class="goal"/>`,
    `<text x="${x0 + unit}" y="${top + 36 + height}" class="axis" text-anchor="middle">${escapeXml(reference)}</text>`,
  ];
  bars.forEach((bar, i) => {
    const y = top + 24 + i * (ROW + GAP);
    const label =
      bar.label.length > MAX_LABEL ? `${bar.label.slice(0, MAX_LABEL - 1)}…` : bar.label;
    out.push(
      `<text x="${x0 - 6}" y="${y + 13}" class="label" text-anchor="end">${escapeXml(label)}</text>`,
    );
    const length = bar.value === null ? 0 : Math.min(MAX_SCALE, Math.max(0, bar.value)) * unit;
    if (bar.value !== null) {
      out.push(
        `<rect x="${x0}" y="${y}" width="${length.toFixed(1)}" height="${ROW}" class="${bar.kind}"/>`,
      );
    }
    out.push(
      `<text x="${(x0 + length + 6).toFixed(1)}" y="${y + 13}" class="value">${escapeXml(bar.text)}</text>`,
    );
  });
  return out;
}

function targetBars(targets: readonly TargetCheck[]): Bar[] {
  return targets.map((t) => ({
    label: t.target,
    value: targetScore(t),
    text: `${formatTargetValue(t.measured, t.unit)} (goal ${t.direction === "atMost" ? "≤" : "≥"} ${formatTargetValue(t.goal, t.unit)})`,
    kind: t.met ? "met" : "missed",
  }));
}

function liveBars(results: BenchResults): Bar[] {
  const bars: Bar[] = [];
  for (const section of results.live) {
    const plain = section.results.find((r) => r.system === "socketio");
    const base = plain && "deliveriesPerSecond" in plain ? plain.deliveriesPerSecond : null;
    for (const r of section.results) {
      if (r.system === "socketio") continue;
      const value = "deliveriesPerSecond" in r && base ? r.deliveriesPerSecond / base : null;
      bars.push({
        label: `${section.title}: ${r.label}`,
        value,
        text: value === null ? "not measured" : `${value.toFixed(2)}×`,
        kind: r.system.startsWith("socketio")
          ? "baseline"
          : value !== null && value >= 1
            ? "met"
            : "missed",
      });
    }
  }
  return bars;
}

/** The chart of one run as an SVG document. */
export function renderChart(results: BenchResults): string {
  const targets = targetBars(results.targets);
  const live = liveBars(results);
  const panelHeight = (n: number) => 60 + n * (ROW + GAP);
  const header = 44;
  const liveTop = header + (targets.length > 0 ? panelHeight(targets.length) : 0);
  const height = liveTop + (live.length > 0 ? panelHeight(live.length) : 0) + 8;
  const env = results.environment;
  const body = [
    `<text x="8" y="20" class="heading">${escapeXml(`Assured benchmark, ${results.generatedAt.slice(0, 16).replace("T", " ")} UTC`)}</text>`,
    `<text x="8" y="36" class="axis">${escapeXml(`Node ${env.node}, ${env.cpus} × ${env.cpuModel}; every ratio against Socket.IO measured in the same run (bars stop at ${MAX_SCALE}×)`)}</text>`,
    ...(targets.length > 0
      ? panel(
          "Targets: measured ÷ goal (“at most” goals inverted); past the line is met",
          "goal",
          targets,
          header,
        )
      : []),
    ...(live.length > 0
      ? panel(
          "Live delivery: deliveries per second ÷ plain Socket.IO",
          "plain Socket.IO",
          live,
          liveTop,
        )
      : []),
  ];
  const title = `Assured benchmark of ${results.generatedAt}: targets and live delivery against Socket.IO`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" role="img">`,
    `<title>${escapeXml(title)}</title>`,
    "<style>.heading{font-size:15px;font-weight:600}.title{font-size:13px;font-weight:600}.label,.value{font-size:11px}.axis{font-size:11px;fill:#555}.met{fill:#2e7d32}.missed{fill:#c62828}.baseline{fill:#9e9e9e}.goal{stroke:#333;stroke-dasharray:3 3}</style>",
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}
