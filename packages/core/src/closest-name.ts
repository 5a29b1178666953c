/** Names longer than this get no suggestion (the distance costs length², and such keys are not typos). */
const MAX_COMPARED_LENGTH = 64;

/**
 * The edit distance of `a` and `b`: the fewest single-character insertions, deletions,
 * substitutions and swaps of neighbours that turn one into the other.
 *
 * @example editDistance("retension", "retention") // 1
 */
export function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, before[j - 2]! + 1);
      }
      current.push(best);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The candidate `name` most likely misspells, or undefined when none is close: case is
 * ignored, and at most a third of the candidate's characters (at least one) may differ.
 * Ties go to the earlier candidate.
 *
 * @example closestName("retension", ["path", "retention"]) // "retention"
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length > MAX_COMPARED_LENGTH) return undefined;
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (candidate === name) continue;
    const distance = editDistance(lower, candidate.toLowerCase());
    const allowed = Math.max(1, Math.floor(candidate.length / 3));
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * The end of an "unknown name" message: ` — did you mean "x"?` for the closest candidate, or
 * an empty string when none is close.
 *
 * @example `unknown option "retension"${didYouMean("retension", keys)}`
 */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const closest = closestName(name, candidates);
  return closest === undefined ? "" : ` — did you mean ${JSON.stringify(closest)}?`;
}
