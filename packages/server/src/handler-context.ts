import type { DedupRun } from "@assured/core/protocol";
import type { MessageContext } from "./options.js";
import type { AnySocket } from "./wire.js";

/**
 * The `MessageContext` a handler gets. A class, not an object literal with a `signal` getter:
 * V8 builds such a literal in about 0.5 µs (a new accessor per object), once per message; this
 * costs a few nanoseconds. `signal` is read from the run when the handler asks (most never do,
 * and the run makes its signal on first read).
 */
export class HandlerContext implements MessageContext<AnySocket> {
  readonly socket: AnySocket;
  readonly principal: string;
  readonly id: string;
  readonly seq: number;
  readonly fencingToken: number;
  readonly #run: DedupRun;

  constructor(socket: AnySocket, principal: string, id: string, seq: number, run: DedupRun) {
    this.socket = socket;
    this.principal = principal;
    this.id = id;
    this.seq = seq;
    this.fencingToken = run.fencingToken;
    this.#run = run;
  }

  get signal(): AbortSignal {
    return this.#run.signal;
  }
}
