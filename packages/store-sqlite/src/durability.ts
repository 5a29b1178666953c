/**
 * How hard SQLite pushes a commit to disk before `append` resolves (SQLite's `synchronous`
 * pragma, in WAL mode). Every level keeps a resolved append across a crash of the process;
 * they differ on an operating-system crash or power loss:
 *
 * - `"off"`: no fsync at all. Survives a process crash; an OS crash or power loss may lose
 *   recent commits and may corrupt the database file.
 * - `"normal"` (default): fsync at WAL checkpoints only. Survives a process crash; an OS crash
 *   or power loss may roll back the most recent commits, never corrupts the file.
 * - `"full"`: fsync of the WAL on every commit. Survives a process crash, an OS crash and power
 *   loss (on hardware that honours fsync).
 * - `"extra"`: as `"full"`. SQLite's extra directory sync is for rollback-journal mode, so in WAL
 *   mode it promises what `"full"` does; accepted for completeness.
 */
export type SynchronousLevel = "off" | "normal" | "full" | "extra";

/** Every accepted `synchronous` level, weakest first. */
export const SYNCHRONOUS_LEVELS: readonly SynchronousLevel[] = ["off", "normal", "full", "extra"];

/** The default level: survives a process crash, cheap enough for one fsync per checkpoint. */
export const DEFAULT_SYNCHRONOUS: SynchronousLevel = "normal";
