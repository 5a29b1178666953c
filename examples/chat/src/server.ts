import { isAbsolute, relative } from "node:path";
import { readChatConfig } from "./chat-config.js";
import { startChatServer } from "./chat-server.js";

// `pnpm start`: runs the chat until Ctrl-C or SIGTERM, keeping its messages in a SQLite file.

// A clean stop exits with code 0, so `pnpm start` ends without an error line. The handlers are
// in place before anything starts: a Ctrl-C while starting stops as cleanly, once started.
// Ctrl-C reaches the server more than once (from the terminal, and forwarded by pnpm): only
// the first counts.
let stopRequested: NodeJS.Signals | undefined;
let stopNow: (() => void) | undefined;
const stop = (signal: NodeJS.Signals) => {
  if (stopRequested) return;
  stopRequested = signal;
  console.log(`\n${signal}: stopping…`);
  stopNow?.();
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

let started: Awaited<ReturnType<typeof startChatServer>>;
let config: ReturnType<typeof readChatConfig>;
try {
  config = readChatConfig(process.env);
  started = await startChatServer(config);
} catch (error) {
  const code = (error as { code?: unknown }).code;
  if (code === "EADDRINUSE") {
    console.error(`Port ${process.env.PORT ?? 3000} is in use; start with PORT=<another port>.`);
  } else {
    console.error(error instanceof Error ? error.message : error);
  }
  process.exit(1);
}
const chat = started;

stopNow = () => {
  chat.close().then(
    () => {
      console.log("Stopped.");
      process.exit(0);
    },
    (error: unknown) => {
      console.error("Could not stop cleanly:", error);
      process.exit(1);
    },
  );
};

if (stopRequested) {
  stopNow();
} else {
  console.log(`Assured chat is running at ${chat.url}`);
  console.log(`Messages are kept in ${shortPath(config.dbPath)}`);
  console.log("Press Ctrl-C to stop.");
}

function shortPath(path: string): string {
  const fromHere = relative(process.cwd(), path);
  return fromHere.startsWith("..") || isAbsolute(fromHere) ? path : fromHere;
}
