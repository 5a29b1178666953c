import { MemoryEventStore } from "@assured/core";

/**
 * A memory event store whose page reads wait at `gate`, as a slow store or a storm's pacing would
 * hold them; `entered` counts the reads that reached it.
 */
export class GatedStore extends MemoryEventStore {
  entered = 0;
  gate: Promise<void> = Promise.resolve();

  /** Closes the gate; the returned function opens it. */
  closeGate(): () => void {
    let open = () => {};
    this.gate = new Promise((resolve) => {
      open = resolve;
    });
    return open;
  }

  override async readPacked(...args: Parameters<MemoryEventStore["readPacked"]>) {
    this.entered++;
    await this.gate;
    return super.readPacked(...args);
  }
}
