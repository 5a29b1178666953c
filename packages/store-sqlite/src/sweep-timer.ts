/**
 * Runs a store's expiry sweep every `intervalMs` on an unref'd timer (it never keeps the
 * process alive), one sweep at a time. Sweeps are best effort: a failed one leaves the rows for
 * the next, and nothing expired is ever served meanwhile (every read checks expiry itself).
 */
export class SweepTimer {
  private readonly timer: NodeJS.Timeout | undefined;
  private running = false;

  /** Starts the timer; an `intervalMs` of 0 starts nothing. */
  constructor(intervalMs: number, sweep: () => Promise<unknown>) {
    if (intervalMs === 0) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = true;
      sweep()
        .catch(() => undefined)
        .finally(() => {
          this.running = false;
        });
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}
