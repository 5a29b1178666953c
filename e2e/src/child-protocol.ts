/** What the child server (`child-server.ts`) is started with, as JSON in `ASSURED_E2E_CHILD`. */
export interface ChildServerConfig {
  /** Fixed port on 127.0.0.1, the same across restarts. */
  port: number;
  /** The SQLite file holding the event log and the dedup claims; it outlives the process. */
  databasePath: string;
  /** Dedup lease of the server (ms): how soon a message of a killed handler runs again. */
  leaseMs: number;
  /**
   * When true, an append that holds an event whose data has `hang: true` resolves in the store
   * and then never returns to the server: the process stays "between append and emit" until it
   * is killed.
   */
  hangAfterAppend: boolean;
  /** The server's `limits.maxUnstoredResponses` (its default when absent). */
  maxUnstoredResponses?: number;
}

/** One line the child writes to stdout, as JSON. Pipes are synchronous on Linux, so a line written before a SIGKILL arrives. */
export type ChildLine =
  | { type: "ready"; port: number }
  | { type: "invoked"; principal: string; id: string; seq: number }
  | { type: "completed"; principal: string; id: string; offset: number }
  | { type: "appended-hang"; offset: number };

/** The data of a `post` message: its handler publishes it to the `feed` stream. */
export interface PostData {
  client: number;
  n: number;
  hang?: boolean;
}

/** The environment variable carrying `ChildServerConfig`. */
export const CHILD_CONFIG_ENV = "ASSURED_E2E_CHILD";
