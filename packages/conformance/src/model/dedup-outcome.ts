/** What a store call answered: the value it resolved with, or the code of the error it threw. */
export type Outcome<T> = { value: T } | { error: string };

/**
 * Runs `call` and captures its answer: an `AssuredError` (or any error with a string `code`)
 * becomes `{ error: code }`; an error without a code becomes `{ error: "raw error: …" }`, which
 * the model never expects.
 */
export async function outcomeOf<T>(call: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { value: await call() };
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    return { error: typeof code === "string" ? code : `raw error: ${String(error)}` };
  }
}

/** Bytes as hex, for failure messages: `[00 ff 07]`. */
export function hexOf(bytes: Uint8Array): string {
  return `[${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ")}]`;
}

/** An outcome as text for a failure message; payload bytes in hex. */
export function describeOutcome(outcome: Outcome<unknown>): string {
  if ("error" in outcome) return `a thrown ${outcome.error}`;
  return JSON.stringify(outcome.value, (_key, value: unknown) =>
    value instanceof Uint8Array ? hexOf(value) : value,
  );
}

/** A key as text for a failure message or a command label, long keys shortened. */
export function describeKey(key: string): string {
  const points = [...key];
  if (points.length <= 24) return JSON.stringify(key);
  return `${JSON.stringify(points.slice(0, 8).join(""))}…(${points.length} code points)`;
}

/**
 * Throws the failure of a broken rule: which rule, which call, what it answered and what the
 * contract allows. fast-check puts this message in its report, after the shrunk commands.
 */
export function ruleBroken(rule: string, call: string, got: string, expected: string): never {
  throw new Error(
    `DedupStore rule broken: ${rule}. ${call} answered ${got}; the contract allows ${expected}.`,
  );
}
