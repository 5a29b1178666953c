import { existsSync, readdirSync, readFileSync } from "node:fs";

/**
 * Process ids and states read from Linux's `/proc`: what a test needs to kill a server whose
 * children leave its process group (PostgreSQL's backends each call `setsid()`, so a signal to
 * the postmaster's group reaches none of them).
 */

/** True where `/proc` lists processes (Linux); elsewhere the helpers below find nothing. */
export function hasProcfs(): boolean {
  return existsSync("/proc/self/stat");
}

/** `state` and parent id of a process from `/proc/<pid>/stat`, or undefined once it is gone. */
export function processStat(pid: number): { state: string; ppid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", ppid: Number(fields[1]) };
}

/** The ids of the live processes whose parent is `pid` (empty without `/proc`). */
export function childProcesses(pid: number): number[] {
  if (!hasProcfs()) return [];
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = processStat(Number(entry));
    if (stat?.ppid === pid && !isDead(stat.state)) children.push(Number(entry));
  }
  return children;
}

/** True once `pid` runs no more: gone, or a zombie (its files, sockets included, are closed). */
export function processEnded(pid: number): boolean {
  const stat = processStat(pid);
  return stat === undefined || isDead(stat.state);
}

/**
 * Resolves once every process of `pids` ended (`processEnded`). Polls `/proc`: another
 * process's children send no event to wait for. Rejects after `timeoutMs`.
 */
export async function processesEnded(pids: readonly number[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = pids.filter((pid) => !processEnded(pid));
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`processes ${left.join(", ")} still run ${timeoutMs} ms after SIGKILL`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function isDead(state: string): boolean {
  return state === "Z" || state === "X" || state === "x";
}
