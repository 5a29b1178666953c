/**
 * A Socket.IO + Assured server in its own process, for crash tests: the parent kills it with
 * SIGKILL and starts it again on the same port and SQLite file. It reports what its handlers do
 * as JSON lines on stdout (see `ChildLine`). Run with
 * `node --conditions=@assured/source --import tsx e2e/src/child-server.ts`.
 */
import { createServer } from "node:http";
import { decode } from "@assured/core";
import type { AppendEntry, AppendResult, EventStore } from "@assured/core/store";
import { createAssuredServer } from "@assured/server";
import { createSqliteStores } from "@assured/store-sqlite";
import { Server } from "socket.io";
import {
  CHILD_CONFIG_ENV,
  type ChildLine,
  type ChildServerConfig,
  type PostData,
} from "./child-protocol.js";

const config = JSON.parse(process.env[CHILD_CONFIG_ENV] ?? "{}") as ChildServerConfig;

function report(line: ChildLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function hasHangFlag(entry: AppendEntry): boolean {
  try {
    const data = decode(entry.payload) as Partial<PostData> | null;
    return data?.hang === true;
  } catch {
    return false;
  }
}

/** The real SQLite store; with `hangAfterAppend`, an append of a `hang` event never returns. */
function hangingAfterAppend(store: EventStore): EventStore {
  if (!config.hangAfterAppend) return store;
  return {
    capabilities: store.capabilities,
    async append(stream, entries): Promise<AppendResult[]> {
      const results = await store.append(stream, entries);
      const index = entries.findIndex(hasHangFlag);
      if (index >= 0) {
        report({ type: "appended-hang", offset: results[index]!.offset });
        return new Promise<AppendResult[]>(() => undefined);
      }
      return results;
    },
    read: (stream, options) => store.read(stream, options),
    head: (stream) => store.head(stream),
    reset: (stream) => store.reset(stream),
    close: () => store.close(),
  };
}

const stores = createSqliteStores({ path: config.databasePath });
const httpServer = createServer();
const io = new Server(httpServer);
const assured = createAssuredServer(io, {
  store: hangingAfterAppend(stores.eventStore),
  dedupStore: stores.dedupStore,
  limits: {
    leaseMs: config.leaseMs,
    ...(config.maxUnstoredResponses === undefined
      ? {}
      : { maxUnstoredResponses: config.maxUnstoredResponses }),
  },
});

assured.on("post", async (data: PostData, { principal, id, seq }) => {
  report({ type: "invoked", principal, id, seq });
  // The event id is the message id: a handler run again after a crash publishes nothing new.
  const { offset } = await assured.publish("feed", "e", data, { id });
  report({ type: "completed", principal, id, offset });
  return { offset };
});

httpServer.listen(config.port, "127.0.0.1", () => report({ type: "ready", port: config.port }));
