// Gauges of one server process during a measured interval: peak RSS growth and event-loop lag.
// Read inside the process whose server is measured (the storm's child), so the clients' memory
// and work, which run in the bench process, do not count.
import { readFileSync, writeFileSync } from "node:fs";
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";

/** What the gauges saw between `start` and `stop`. */
export interface GaugeReading {
  /** Resident set size when the interval started, in bytes. */
  rssBeforeBytes: number;
  /** The highest resident set size during the interval, in bytes. */
  rssPeakBytes: number;
  /** How the peak was taken: the kernel's high-water mark, or sampling every few ms. */
  rssPeakSource: "VmHWM" | "sampled";
  /** Event-loop delay beyond the timer's resolution, in ms. */
  lagMaxMs: number;
  lagP99Ms: number;
}

/** Reads a `kB` field of /proc/self/status, in bytes (undefined where there is no procfs). */
function procStatusBytes(field: string): number | undefined {
  try {
    const line = readFileSync("/proc/self/status", "utf8")
      .split("\n")
      .find((l) => l.startsWith(`${field}:`));
    const kb = line === undefined ? Number.NaN : Number.parseInt(line.slice(field.length + 1), 10);
    return Number.isFinite(kb) ? kb * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the kernel's peak-RSS mark (Linux ≥ 4.0); false where that is not possible. */
function resetPeakRss(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return procStatusBytes("VmHWM") !== undefined;
  } catch {
    return false;
  }
}

/** Starts measuring now; `stop` returns the reading. */
export function startGauges(): { stop(): GaugeReading } {
  const exact = resetPeakRss();
  const rssBeforeBytes = process.memoryUsage.rss();
  let sampledPeak = rssBeforeBytes;
  // Sampling is the fallback and a floor for the high-water mark (a blocked loop skips samples).
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
  }, 5);
  const lag: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  return {
    stop() {
      lag.disable();
      clearInterval(sampler);
      sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
      const hwm = exact ? procStatusBytes("VmHWM") : undefined;
      return {
        rssBeforeBytes,
        rssPeakBytes: Math.max(hwm ?? 0, sampledPeak),
        rssPeakSource: hwm === undefined ? "sampled" : "VmHWM",
        lagMaxMs: lag.count > 0 ? lag.max / 1e6 : 0,
        lagP99Ms: lag.count > 0 ? lag.percentile(99) / 1e6 : 0,
      };
    },
  };
}
