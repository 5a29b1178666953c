/** The event every live and catch-up scenario sends: a small chat-like object. */
export interface BenchEvent {
  /** Sequence number within one measurement. */
  seq: number;
  /** `performance.now()` when it was published (servers and clients share the process clock). */
  at: number;
  text: string;
}

/** Builds event number `seq`, stamped now. */
export function benchEvent(seq: number): BenchEvent {
  return { seq, at: performance.now(), text: "hello from the benchmark, with a few words" };
}
