/**
 * The test page of the browser tests. It loads the bundled client, subscribes to `news` with
 * positions and outbox in `localStorage`, and exposes what happens on `window.e2e`: deliveries
 * of this page life, results (also of messages sent before a reload), outcomes and errors.
 * The Socket.IO server's URL comes from the `server` query parameter.
 */
export const BROWSER_PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>assured e2e</title></head>
<body>
<script type="module">
import { io, createAssuredClient, webStorage } from "/assured-client.js";
const server = new URLSearchParams(location.search).get("server");
const socket = io(server, {
  autoConnect: false,
  transports: ["websocket"],
  reconnectionDelay: 50,
  reconnectionDelayMax: 200,
});
const client = createAssuredClient(socket, {
  storage: webStorage(localStorage),
  retry: { initialMs: 50, maxMs: 500, factor: 2 },
});
const e2e = { delivered: [], results: [], outcomes: [], errors: [], replies: [], ready: false };
window.e2e = e2e;
client.on("e", (data, meta) => { e2e.delivered.push({ offset: meta.offset, data }); });
client.onResult((id, r) => e2e.results.push({ id, ok: r.ok, value: r.ok ? r.value : r.error.code }));
client.onRecovery((o) => e2e.outcomes.push(o));
client.onError((e) => e2e.errors.push({ code: e.code, message: e.message }));
client.subscribe("news", { from: "earliest" });
e2e.connected = () => socket.connected;
e2e.pending = () => client.pending();
e2e.position = () => client.position("news");
e2e.emit = (data) => {
  client.emit("note", data).then(
    (value) => e2e.replies.push(value),
    (error) => e2e.replies.push({ error: error.code }),
  );
};
await client.connect();
e2e.ready = true;
</script>
</body>
</html>`;

/** What the page exposes on `window.e2e`. */
export interface PageApi {
  delivered: { offset: number; data: unknown }[];
  results: { id: string; ok: boolean; value: unknown }[];
  outcomes: {
    stream: string;
    recovered: boolean;
    reason?: string;
    position: { epoch: string; offset: number };
  }[];
  errors: { code: string; message: string }[];
  replies: unknown[];
  ready: boolean;
  connected(): boolean;
  pending(): { id: string; seq: number; name: string }[];
  position(): { epoch: string; offset: number } | null;
  emit(data: unknown): void;
}

/** `window.e2e` inside `page.evaluate` callbacks. */
export function pageApi(): PageApi {
  return (globalThis as unknown as { e2e: PageApi }).e2e;
}
