/** A distribution in a stats snapshot: how many values were recorded, their sum and the largest. */
export interface MetricSummary {
  count: number;
  sum: number;
  max: number;
}

/** An empty summary. */
export function emptySummary(): MetricSummary {
  return { count: 0, sum: 0, max: 0 };
}

/** Adds one value to a summary (in place). */
export function addToSummary(summary: MetricSummary, value: number): void {
  summary.count++;
  summary.sum += value;
  if (value > summary.max) summary.max = value;
}
