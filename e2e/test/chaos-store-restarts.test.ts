import { describe, expect, it } from "vitest";
import { type ChaosProfile, shortProfile } from "../src/chaos/profiles.js";
import { runChaos } from "../src/chaos/run-chaos.js";

/**
 * The `restart-store` fault on Redis: the store SIGKILLed and restarted with its data
 * (`persistent`, appendonly + appendfsync always) or empty (`volatile`), with connection cuts,
 * under a fixed seed. The checker judges each `epoch` outcome against the logs captured around
 * the restarts; a message rerun across a volatile restart is counted, not reported.
 */
const SEED = 7;

describe("chaos: store restarts", () => {
  it("Redis restarted persistent and volatile keeps G1–G10 (0 violations)", {
    timeout: 180_000,
  }, async () => {
    const profile: ChaosProfile = {
      ...shortProfile("redis"),
      tabs: 0,
      durationMs: 10_000,
      faultEveryMs: 1_000,
      faults: ["restart-store", "cut"],
      restartModes: ["persistent", "volatile"],
    };
    const result = await runChaos(profile, SEED);
    console.log(result.report.split("\n").slice(0, 6).join("\n"));
    expect(result.verdict.violations, result.report).toEqual([]);
    const restarts = result.verdict.figures.storeRestarts;
    expect(restarts.persistent ?? 0, result.report).toBeGreaterThanOrEqual(1);
    expect(restarts.volatile ?? 0, result.report).toBeGreaterThanOrEqual(1);
    expect(result.verdict.figures.messages).toBe(
      profile.workers * profile.clientsPerWorker * profile.messagesPerClient,
    );
  });
});
