import type fc from "fast-check";
import type { DedupModel, ModelClaimOptions } from "./dedup-model.js";
import { describeKey, hexOf, outcomeOf } from "./dedup-outcome.js";
import type { DedupSystem } from "./dedup-system.js";

/** One step of a model run. */
export type DedupCommand = fc.AsyncCommand<DedupModel, DedupSystem>;

/** A token the store never issued (a well-formed one, so the call is not an invalid argument). */
export const FORGED_TOKEN = "never-issued-token";

/** `" @1"` when the command goes through another instance than the first. */
function viaLabel(via: number): string {
  return via === 0 ? "" : ` @instance ${via}`;
}

/**
 * Which token a command passes: the latest one issued for its key (the holder's, or one that
 * completed, released or was taken over), the one before it, the latest of another key, or one
 * never issued.
 */
export type TokenChoice = "latest" | "older" | "another key's" | "forged";

function tokenFor(model: DedupModel, key: string, choice: TokenChoice): string {
  const own = model.tokens(key, "key");
  const token =
    choice === "latest"
      ? own.at(-1)
      : choice === "older"
        ? own.at(-2)
        : choice === "another key's"
          ? model.tokens(key, "other keys").at(-1)
          : undefined;
  return token ?? FORGED_TOKEN;
}

/** `claim(key, { leaseMs, fingerprint, owner? })`. */
export class ClaimCommand implements DedupCommand {
  constructor(
    readonly key: string,
    readonly options: ModelClaimOptions,
    readonly via: number,
  ) {}
  check = () => true;
  async run(model: DedupModel, system: DedupSystem): Promise<void> {
    const now = system.clock();
    const outcome = await outcomeOf(() => system.store(this.via).claim(this.key, this.options));
    model.claim(this.key, this.options, now, outcome);
    // Copy semantics: what a caller does to the bytes it got must not reach the store.
    if ("value" in outcome && outcome.value.status === "done") {
      outcome.value.response.payload.fill(0xee);
    }
  }
  toString(): string {
    const owner = this.options.owner === undefined ? "" : `, owner ${this.options.owner.id}`;
    return `claim(${describeKey(this.key)}, ${this.options.fingerprint}, lease ${this.options.leaseMs}${owner})${viaLabel(this.via)}`;
  }
}

/**
 * `complete(key, token, { ok, payload }, { ttlMs })`, the payload a view into a larger buffer
 * (at `offset`), changed by the caller once the call resolved.
 */
export class CompleteCommand implements DedupCommand {
  constructor(
    readonly key: string,
    readonly token: TokenChoice,
    readonly ok: boolean,
    readonly bytes: Uint8Array,
    readonly offset: number,
    readonly ttlMs: number,
    readonly via: number,
  ) {}
  check = () => true;
  async run(model: DedupModel, system: DedupSystem): Promise<void> {
    const token = tokenFor(model, this.key, this.token);
    const buffer = new Uint8Array(this.offset + this.bytes.length + 2).fill(0xab);
    buffer.set(this.bytes, this.offset);
    const payload = buffer.subarray(this.offset, this.offset + this.bytes.length);
    const sent = { ok: this.ok, payload: payload.slice() };
    const now = system.clock();
    const outcome = await outcomeOf(() =>
      system
        .store(this.via)
        .complete(this.key, token, { ok: this.ok, payload }, { ttlMs: this.ttlMs }),
    );
    buffer.fill(0xcd);
    model.complete(this.key, token, sent, this.ttlMs, now, outcome);
  }
  toString(): string {
    return `complete(${describeKey(this.key)}, ${this.token} token, ok ${this.ok}, ${hexOf(this.bytes)}, ttl ${this.ttlMs})${viaLabel(this.via)}`;
  }
}

/** `release(key, token)`. */
export class ReleaseCommand implements DedupCommand {
  constructor(
    readonly key: string,
    readonly token: TokenChoice,
    readonly via: number,
  ) {}
  check = () => true;
  async run(model: DedupModel, system: DedupSystem): Promise<void> {
    const token = tokenFor(model, this.key, this.token);
    const now = system.clock();
    const outcome = await outcomeOf(() => system.store(this.via).release(this.key, token));
    model.release(this.key, token, now, outcome);
  }
  toString(): string {
    return `release(${describeKey(this.key)}, ${this.token} token)${viaLabel(this.via)}`;
  }
}

/** `renew(key, token, leaseMs)`. */
export class RenewCommand implements DedupCommand {
  constructor(
    readonly key: string,
    readonly token: TokenChoice,
    readonly leaseMs: number,
    readonly via: number,
  ) {}
  check = () => true;
  async run(model: DedupModel, system: DedupSystem): Promise<void> {
    const token = tokenFor(model, this.key, this.token);
    const now = system.clock();
    const outcome = await outcomeOf(() =>
      system.store(this.via).renew(this.key, token, this.leaseMs),
    );
    model.renew(this.key, token, this.leaseMs, now, outcome);
  }
  toString(): string {
    return `renew(${describeKey(this.key)}, ${this.token} token, ${this.leaseMs})${viaLabel(this.via)}`;
  }
}

/** Moves the clock forward (across lease ends and TTLs). */
export class AdvanceCommand implements DedupCommand {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(_model: DedupModel, system: DedupSystem): Promise<void> {
    system.clock.advance(this.ms);
  }
  toString(): string {
    return `advance(${this.ms})`;
  }
}

/** Closes (or crashes) every instance and reopens on the same data: everything must survive. */
export class RestartCommand implements DedupCommand {
  constructor(readonly crash: boolean) {}
  check = () => true;
  async run(_model: DedupModel, system: DedupSystem): Promise<void> {
    await system.restart(this.crash);
  }
  toString(): string {
    return this.crash ? "crash+reopen()" : "close+reopen()";
  }
}
