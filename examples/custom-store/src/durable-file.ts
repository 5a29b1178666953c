import { createHash } from "node:crypto";
import { open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";

/**
 * A file name for an opaque name (stream or dedup key): the SHA-256 of its UTF-8 bytes. Hostile
 * names (`../`, `*`, newlines, 256 emoji) can neither escape the directory nor exceed the file
 * name limit; the file keeps the real name inside to guard against a collision.
 */
export function fileFor(directory: string, name: string, extension: string): string {
  return join(directory, `${createHash("sha256").update(name, "utf8").digest("hex")}${extension}`);
}

/** The file's text, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Replaces the file atomically and durably: write a temporary file, fsync it, rename it over. */
export async function replaceDurably(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp`;
  const handle = await open(temporary, "w");
  try {
    await handle.writeFile(text, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
}

/** Appends to the file and fsyncs before resolving. */
export async function appendDurably(path: string, text: string): Promise<void> {
  const handle = await open(path, "a");
  try {
    await handle.writeFile(text, "utf8");
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
