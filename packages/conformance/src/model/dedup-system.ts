import type { DedupStore } from "@assured/core/store";
import type { StoreFixture } from "../fixtures.js";
import type { TestClock } from "../test-clock.js";

/**
 * The store side of a model run: `width` instances on one set of fresh data (more than one
 * only for a store shared across instances), restarted or crashed and reopened on demand.
 */
export class DedupSystem {
  private instances: DedupStore[];
  private readonly everyInstance: DedupStore[];

  private constructor(
    private readonly fixture: StoreFixture<DedupStore>,
    first: DedupStore[],
  ) {
    this.instances = first;
    this.everyInstance = [...first];
  }

  /** Opens `width` instances on fresh data: one from `create`, the rest from `reopen`. */
  static async open(fixture: StoreFixture<DedupStore>, width: number): Promise<DedupSystem> {
    const first = await fixture.create();
    const system = new DedupSystem(fixture, [first]);
    await system.widen(width);
    return system;
  }

  /** The case's clock, which every instance uses. */
  get clock(): TestClock {
    return this.fixture.clock;
  }

  /** The instance a command goes through: `via` modulo the number of instances. */
  store(via: number): DedupStore {
    return this.instances[via % this.instances.length]!;
  }

  /**
   * Ends every instance and opens as many again on the same data. A crash ends the first
   * instance with the harness's `crash` (abandoned, without one) after closing the others, as
   * one process dies while the others shut down.
   */
  async restart(crash: boolean): Promise<void> {
    const [first, ...others] = this.instances;
    for (const instance of crash ? others : this.instances) await instance.close();
    if (crash) await this.fixture.crash(first!);
    const width = this.instances.length;
    this.instances = [await this.fixture.reopen(first!)];
    this.everyInstance.push(this.instances[0]!);
    await this.widen(width);
  }

  /** Closes every instance the run opened (abandoned ones too); close errors are ignored. */
  async closeAll(): Promise<void> {
    for (const instance of this.everyInstance) await instance.close().catch(() => undefined);
  }

  private async widen(width: number): Promise<void> {
    while (this.instances.length < width) {
      const again = await this.fixture.reopen(this.instances[0]!);
      this.instances.push(again);
      this.everyInstance.push(again);
    }
  }
}
