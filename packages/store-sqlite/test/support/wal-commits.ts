import { readFileSync } from "node:fs";

/**
 * Counts the commits in a SQLite WAL file by reading its frames: a frame whose header holds a
 * non-zero "database size after commit" ends a transaction. Only frames carrying the header's
 * salts belong to the current WAL generation. See https://www.sqlite.org/fileformat.html#the_write_ahead_log
 */
export function countWalCommits(walPath: string): number {
  const wal = readFileSync(walPath);
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salt1 = wal.readUInt32BE(16);
  const salt2 = wal.readUInt32BE(20);
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

/**
 * True when the WAL's current generation ends in frames that no commit frame closes: the pages
 * an unfinished (or killed) transaction spilled into the WAL, which recovery must ignore.
 */
export function walEndsUncommitted(walPath: string): boolean {
  const wal = readFileSync(walPath);
  if (wal.length < 32) return false;
  const pageSize = wal.readUInt32BE(8);
  const salt1 = wal.readUInt32BE(16);
  const salt2 = wal.readUInt32BE(20);
  let lastIsCommit = true;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
    lastIsCommit = wal.readUInt32BE(at + 4) !== 0;
  }
  return !lastIsCommit;
}
