import type { Socket } from "socket.io-client";

/** Options of `startChurn`. */
export interface ChurnOptions {
  /** Shortest pause between two drops of one socket (ms). */
  minMs: number;
  /** Longest pause between two drops of one socket (ms). */
  maxMs: number;
  /** Stop on its own after this long (ms), so a failing test cannot churn forever. */
  maxDurationMs: number;
  /** Random source (default `Math.random`). */
  random?: () => number;
}

/** A running churn: `stop()` ends it; `drops` counts the connections it broke. */
export interface Churn {
  readonly drops: number;
  stop(): void;
}

/**
 * Breaks the connections of `sockets` at random intervals, the two ways a connection ends in
 * practice: the transport dies (`socket.io.engine.close()`, the manager reconnects) or the
 * application disconnects and connects again. Each socket gets its own timer, bounded by
 * `maxDurationMs`. These timers are the only deliberate delays of the e2e suite.
 *
 * @example
 * const churn = startChurn(sockets, { minMs: 200, maxMs: 400, maxDurationMs: 10_000 });
 * …
 * churn.stop();
 */
export function startChurn(sockets: readonly Socket[], options: ChurnOptions): Churn {
  const random = options.random ?? Math.random;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let drops = 0;
  let stopped = false;
  const stopAt = Date.now() + options.maxDurationMs;
  const schedule = (socket: Socket) => {
    const delay = options.minMs + random() * (options.maxMs - options.minMs);
    if (stopped || Date.now() + delay > stopAt) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (stopped) return;
      if (socket.connected) {
        drops++;
        if (random() < 0.5) socket.io.engine.close();
        else socket.disconnect().connect();
      }
      schedule(socket);
    }, delay);
    timers.add(timer);
  };
  for (const socket of sockets) schedule(socket);
  return {
    get drops() {
      return drops;
    },
    stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
