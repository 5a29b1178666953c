import { isAbsolute, relative } from "node:path";
import { readChatConfig } from "./chat-config.js";
import { type ChatServer, startChatServer } from "./chat-server.js";

// `pnpm start`: runs the chat until Ctrl-C or SIGTERM, keeping its messages in a SQLite file.

let chat: ChatServer;
let config: ReturnType<typeof readChatConfig>;
try {
  config = readChatConfig(process.env);
  chat = await startChatServer(config);
} catch (error) {
  const code = (error as { code?: unknown }).code;
  if (code === "EADDRINUSE") {
    console.error(`Port ${process.env.PORT ?? 3000} is in use; start with PORT=<another port>.`);
  } else {
    console.error(error instanceof Error ? error.message : error);
  }
  process.exit(1);
}

console.log(`Assured chat is running at ${chat.url}`);
console.log(`Messages are kept in ${shortPath(config.dbPath)}`);
console.log("Press Ctrl-C to stop.");

function shortPath(path: string): string {
  const fromHere = relative(process.cwd(), path);
  return fromHere.startsWith("..") || isAbsolute(fromHere) ? path : fromHere;
}

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping…`);
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
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
