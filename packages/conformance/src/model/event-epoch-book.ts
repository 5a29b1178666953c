import { violation } from "./violation.js";

/**
 * The epochs a store reported, per stream and generation of the model. Epochs are compared by
 * what they mean, never by value: generation 0 is `""`; the first epoch seen for a generation
 * must be non-empty and differ from every earlier one of the stream (a new log); every later
 * report of the same generation must repeat it (stable while the log exists).
 */
export class EpochBook {
  private readonly seen = new Map<string, Map<number, string>>();

  /** Checks `epoch` as the store's answer for `stream` in `generation`, `what` naming the call. */
  check(stream: string, generation: number, epoch: unknown, what: string): void {
    if (generation === 0) {
      if (epoch !== "") {
        throw violation(
          "Epochs",
          'a stream without a log (never appended, never reset) has the epoch ""',
          what,
          `epoch ${JSON.stringify(epoch)}`,
        );
      }
      return;
    }
    const epochs = this.epochsOf(stream);
    const known = epochs.get(generation);
    if (known !== undefined) {
      if (epoch !== known) {
        throw violation(
          "Epochs",
          "the epoch never changes while the log exists (across reopen and crash too); only a reset or a lost log changes it",
          what,
          `epoch ${JSON.stringify(epoch)}, but the log had ${JSON.stringify(known)} and was not reset`,
        );
      }
      return;
    }
    if (typeof epoch !== "string" || epoch === "") {
      throw violation(
        "Epochs",
        "a log (made by its first append or a reset) has a non-empty epoch",
        what,
        `epoch ${JSON.stringify(epoch)}`,
      );
    }
    for (const [earlier, value] of epochs) {
      if (value === epoch && earlier < generation) {
        throw violation(
          "Epochs",
          "a reset starts a new epoch, never an earlier one of the stream",
          what,
          `epoch ${JSON.stringify(epoch)}, which the stream had before a reset`,
        );
      }
    }
    epochs.set(generation, epoch);
  }

  private epochsOf(stream: string): Map<number, string> {
    let epochs = this.seen.get(stream);
    if (epochs === undefined) {
      epochs = new Map();
      this.seen.set(stream, epochs);
    }
    return epochs;
  }
}
