/** A store result that breaks a rule of the EventStore contract, found by the model. */
export class ContractViolation extends Error {
  override readonly name = "ContractViolation";
}

/**
 * The error for a broken rule: `rule` names it (as in the contract's doc comments), `text`
 * says what it requires, `what` names the call and `got` what the store answered.
 */
export function violation(
  rule: string,
  text: string,
  what: string,
  got: string,
): ContractViolation {
  return new ContractViolation(`${rule} rule broken: ${text}. ${what}: got ${got}`);
}

/** A value for a message: strings quoted and escaped, long lists shortened. */
export function show(value: unknown): string {
  if (Array.isArray(value) && value.length > 12) {
    return `[${value.slice(0, 10).map(show).join(", ")}, …(${value.length - 10} more)]`;
  }
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`;
  if (value instanceof Uint8Array) return `bytes[${[...value].join(",")}]`;
  if (typeof value === "string") {
    return value.length > 40
      ? `${JSON.stringify(value.slice(0, 20))}…(${value.length} chars)`
      : JSON.stringify(value);
  }
  return String(value);
}
