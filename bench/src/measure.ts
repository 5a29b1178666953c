/** Runs `fn` repeatedly for about `ms` milliseconds and returns operations per second. */
export function opsPerSecond(fn: () => void, ms = 500): number {
  for (let i = 0; i < 200; i++) fn(); // warm up
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    elapsed = performance.now() - start;
  }
  return (n * 1000) / elapsed;
}

/** Formats a number with thousands separators and no decimals. */
export function formatRate(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}
