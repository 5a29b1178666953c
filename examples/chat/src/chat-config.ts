import { fileURLToPath } from "node:url";
import type { ChatServerOptions } from "./chat-server.js";

/** Where `pnpm start` keeps the chat, unless `CHAT_DB` says otherwise. */
export const DEFAULT_DB_PATH = fileURLToPath(new URL("../.data/chat.sqlite", import.meta.url));

/**
 * Reads the chat's settings from the environment: `PORT` (default 3000), `HOST` (default
 * 127.0.0.1), `CHAT_DB` (the SQLite file, default `examples/chat/.data/chat.sqlite`) and
 * `CHAT_LEASE_MS` (see `ChatServerOptions.leaseMs`).
 * @throws Error naming the variable when one is malformed.
 */
export function readChatConfig(env: NodeJS.ProcessEnv): Required<ChatServerOptions> {
  return {
    port: integerVariable(env, "PORT", 3000, 0, 65_535),
    host: env.HOST || "127.0.0.1",
    dbPath: env.CHAT_DB || DEFAULT_DB_PATH,
    leaseMs: integerVariable(env, "CHAT_LEASE_MS", 5_000, 1, 600_000),
  };
}

function integerVariable(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(
      `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}.`,
    );
  }
  return value;
}
