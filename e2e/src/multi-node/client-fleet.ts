import { TrackedClient } from "./tracked-client.js";
import { waitFor } from "./wait-for.js";

/** Several tracked clients on one stream behind one address, driven together. */
export class ClientFleet {
  readonly clients: TrackedClient[];
  #round = 0;

  /** `count` clients named `<prefix>0`, `<prefix>1`… (prefix default `c`). */
  constructor(count: number, url: string, stream: string, prefix = "c") {
    this.clients = Array.from(
      { length: count },
      (_, i) => new TrackedClient({ name: `${prefix}${i}`, url, stream }),
    );
  }

  /** Connects every client and resolves once each has its first subscription outcome. */
  async connect(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.connect()));
    await this.subscribed(1, "every client subscribed");
  }

  /** Resolves once every client is connected and has reported `count` outcomes. */
  async subscribed(count: number, what: string): Promise<void> {
    await waitFor(
      () => this.clients.every((c) => c.socket.connected && c.outcomes.length === count),
      10_000,
      () => `${what}; outcomes ${this.clients.map((c) => JSON.stringify(c.outcomes))}`,
    );
  }

  /** Every client sends one `record` message of the next round; their ids go into `ids`. */
  sendRound(ids: string[]): void {
    this.#round++;
    for (const c of this.clients) ids.push(c.record(this.#round));
  }

  /** Whether a client has delivered every event up to `head`. */
  static reached(c: TrackedClient, head: number): boolean {
    return (c.offsets().at(-1) ?? 0) >= head;
  }

  /** Resolves once every client delivered up to `head()` and has no unanswered message. */
  async caughtUp(head: () => number, what: string): Promise<void> {
    await waitFor(
      () => this.clients.every((c) => ClientFleet.reached(c, head()) && c.drained()),
      10_000,
      () => `${what} up to ${head()}; at ${this.where()}`,
    );
  }

  /** Where each client is, for failure messages: `c0@12 c1@12 …`. */
  where(): string {
    return this.clients.map((c) => `${c.name}@${c.offsets().at(-1) ?? 0}`).join(" ");
  }

  /** Closes every client. */
  async close(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.close()));
  }
}
