import type { BrowserTabs } from "./browser-tabs.js";
import type { ChaosLogLine } from "./chaos-log.js";
import type { ClientWorkers } from "./client-workers.js";
import { clockFileOf, drawClockJump, jumpClock } from "./clock-jump.js";
import type { FaultProxy } from "./fault-proxy.js";
import type { FaultKind } from "./profiles.js";
import type { SeededRandom } from "./seeded-random.js";
import type { ChaosTopology } from "./topology.js";

/** What the schedule acts on. */
export interface FaultTargets {
  topology: ChaosTopology;
  proxy: FaultProxy;
  workers: ClientWorkers;
  /** Chromium tabs, for `reload-tab` and `offline-tab` (without them those faults are skipped). */
  tabs?: BrowserTabs;
}

/**
 * Injects one seeded fault every `everyMs` (± half) until `stop`: connection cuts, stalls
 * longer or shorter than the heartbeat, latency and bandwidth toxics for a few seconds,
 * half-open connections, SIGKILL of a node (restarted after a pause), a client worker's main
 * thread kept busy, and a node's wall clock jumped for a while (`clock-jump.ts`). Each one is
 * logged (`fault`) so a failure's timeline shows it.
 */
export class FaultSchedule {
  readonly #targets: FaultTargets;
  readonly #random: SeededRandom;
  readonly #kinds: readonly FaultKind[];
  readonly #everyMs: number;
  readonly #log: (line: ChaosLogLine) => void;
  readonly #clock: () => number;
  readonly #running = new Set<Promise<void>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  readonly counts = new Map<FaultKind, number>();

  constructor(
    targets: FaultTargets,
    random: SeededRandom,
    kinds: readonly FaultKind[],
    everyMs: number,
    log: (line: ChaosLogLine) => void,
    clock: () => number,
  ) {
    this.#targets = targets;
    this.#random = random;
    this.#kinds = kinds;
    this.#everyMs = everyMs;
    this.#log = log;
    this.#clock = clock;
  }

  /** Starts injecting. */
  start(): void {
    this.#arm();
  }

  /** Stops injecting, waits for faults in progress, heals the network and restarts every node. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await Promise.allSettled([...this.#running]);
    this.#targets.proxy.heal();
    this.#note("heal");
    for (let i = 0; i < this.#targets.topology.size; i++) await this.#targets.topology.startNode(i);
  }

  #arm(): void {
    if (this.#stopped) return;
    const delay = Math.round(this.#everyMs * (0.5 + this.#random.next()));
    this.#timer = setTimeout(() => {
      const kind = this.#kinds[this.#random.int(0, this.#kinds.length - 1)]!;
      this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
      const run = this.#inject(kind).catch((error: unknown) => {
        this.#note("fault-failed", kind, String(error));
      });
      this.#running.add(run);
      void run.finally(() => this.#running.delete(run));
      this.#arm();
    }, delay);
  }

  async #inject(kind: FaultKind): Promise<void> {
    const { proxy, topology, workers } = this.#targets;
    const r = this.#random;
    switch (kind) {
      case "cut": {
        const share = 0.2 + r.next() * 0.8;
        const cut = proxy.cut(() => r.next() < share);
        this.#note(kind, undefined, { connections: cut });
        return;
      }
      case "stall": {
        // Around the 2 s heartbeat: some stalls are survived, some drop the connection.
        const ms = r.int(300, 4_000);
        proxy.stall(ms);
        this.#note(kind, undefined, { ms });
        return;
      }
      case "latency": {
        const toxics = { latencyMs: r.int(10, 300), jitterMs: r.int(0, 100) };
        await this.#forAWhile(kind, toxics, r.int(1_000, 5_000));
        return;
      }
      case "bandwidth": {
        const toxics = { bytesPerSecond: r.int(20, 500) * 1024 };
        await this.#forAWhile(kind, toxics, r.int(1_000, 5_000));
        return;
      }
      case "half-open": {
        const share = 0.1 + r.next() * 0.5;
        const count = proxy.halfOpen(() => r.next() < share);
        this.#note(kind, undefined, { connections: count });
        return;
      }
      case "kill-node": {
        const i = r.int(0, topology.size - 1);
        if (!topology.running(i)) return;
        const down = r.int(200, 3_000);
        // Noted once the node is dead: a start still in progress finishes first, and runs it
        // handles before the kill must count as before the crash (the checker's crash reruns).
        await topology.killNode(i);
        this.#note(kind, topology.name(i), { downMs: down });
        await new Promise((resolve) => setTimeout(resolve, down));
        await topology.startNode(i);
        this.#note("node-restarted", topology.name(i));
        return;
      }
      case "reload-tab":
      case "offline-tab": {
        const tabs = this.#targets.tabs;
        if (tabs === undefined || tabs.count === 0) {
          this.#note(kind, undefined, "no tabs");
          return;
        }
        const i = r.int(0, tabs.count - 1);
        const name = tabs.names[i];
        if (kind === "reload-tab") {
          this.#note(kind, name);
          await tabs.reload(i);
          this.#note("tab-reloaded", name);
        } else {
          const ms = r.int(500, 5_000);
          this.#note(kind, name, { ms });
          await tabs.offline(i, ms);
          this.#note("offline-tab-end", name);
        }
        return;
      }
      case "busy-client": {
        const worker = r.int(0, workers.count - 1);
        const ms = r.int(200, 3_000);
        this.#note(kind, `w${worker}`, { ms });
        await workers.busy(worker, ms);
        return;
      }
      case "clock-jump": {
        const i = r.int(0, topology.size - 1);
        const jump = drawClockJump(r);
        this.#note(kind, topology.name(i), jump);
        await jumpClock(clockFileOf({ name: topology.name(i), port: topology.ports()[i]! }), jump);
        this.#note("clock-jump-end", topology.name(i));
        return;
      }
      case "restart-store": {
        const note = (fault: string, target?: string, detail?: unknown) =>
          this.#note(fault, target, detail);
        if (topology.storeRestarts === undefined) note(kind, undefined, "not injected");
        else await topology.storeRestarts.inject(r, note, this.#clock);
        return;
      }
    }
  }

  async #forAWhile(kind: FaultKind, toxics: object, ms: number): Promise<void> {
    this.#targets.proxy.setToxics(toxics);
    this.#note(kind, undefined, { ...toxics, ms });
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.#targets.proxy.setToxics({});
    this.#note(`${kind}-end`);
  }

  #note(fault: string, target?: string, detail?: unknown): void {
    this.#log({
      kind: "fault",
      t: this.#clock(),
      fault,
      ...(target === undefined ? {} : { target }),
      ...(detail === undefined ? {} : { detail }),
    });
  }
}
