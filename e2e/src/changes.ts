/** Options of `Changes.until`. */
export interface UntilOptions {
  /** Give up after this long (default 10,000 ms). */
  timeoutMs?: number;
  /** What is awaited, for the timeout message; a function is evaluated at the timeout. */
  what?: string | (() => string);
}

/**
 * A change signal: code that changes observed state calls `notify()`, and tests wait with
 * `until(predicate)`, which re-checks the predicate on every change instead of sleeping.
 *
 * @example
 * const changes = new Changes();
 * client.on("e", (data, meta) => { seen.push(meta.offset); changes.notify(); });
 * await changes.until(() => seen.length === 100, { what: "100 events" });
 */
export class Changes {
  readonly #waiters = new Set<() => void>();

  /** Re-checks every waiting predicate. */
  notify(): void {
    for (const check of [...this.#waiters]) check();
  }

  /** Resolves with the predicate's first truthy value; rejects after the timeout. */
  until<T>(predicate: () => T | undefined | null | false, options: UntilOptions = {}): Promise<T> {
    const { timeoutMs = 10_000, what = "a condition" } = options;
    return new Promise<T>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const check = () => {
        let value: T | undefined | null | false;
        try {
          value = predicate();
        } catch (error) {
          finish();
          reject(error);
          return;
        }
        if (value === undefined || value === null || value === false) return;
        finish();
        resolve(value);
      };
      const finish = () => {
        this.#waiters.delete(check);
        if (timer !== undefined) clearTimeout(timer);
      };
      this.#waiters.add(check);
      timer = setTimeout(() => {
        finish();
        const described = typeof what === "function" ? what() : what;
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${described}`));
      }, timeoutMs);
      check();
    });
  }
}
