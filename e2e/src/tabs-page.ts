/**
 * The page of the multi-tab tests: one app whose tabs share storage (`localStorage` or
 * IndexedDB, from the `storage` query parameter). The server subscribes each socket to an
 * inbox; the page handles its `mail` events and sends `note` messages. What happens is exposed
 * on `window.tabs`. The Socket.IO server's URL comes from the `server` query parameter.
 */
export const TABS_PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>assured tabs</title></head>
<body>
<script type="module">
import { io, createAssuredClient, webStorage, indexedDbStorage } from "/assured-client.js";
const params = new URLSearchParams(location.search);
const socket = io(params.get("server"), {
  autoConnect: false,
  transports: ["websocket"],
  reconnectionDelay: 50,
  reconnectionDelayMax: 200,
});
const storage = params.get("storage") === "idb" ? indexedDbStorage() : webStorage(localStorage);
const client = createAssuredClient(socket, {
  storage,
  retry: { initialMs: 50, maxMs: 500, factor: 2 },
});
const tabs = { mail: [], outcomes: [], errors: [], replies: [], results: [], sent: [], ready: false };
window.tabs = tabs;
client.on("mail", (data, meta) => { tabs.mail.push({ offset: meta.offset, data }); });
client.onRecovery((o) => tabs.outcomes.push({ stream: o.stream, recovered: o.recovered, offset: o.position.offset }));
client.onResult((id, r) => tabs.results.push({ id, ok: r.ok, value: r.ok ? r.value : r.error.code }));
client.onError((e) => tabs.errors.push({ code: e.code, message: e.message }));
tabs.connected = () => socket.connected;
tabs.pending = () => client.pending().map((m) => m.id);
tabs.emit = (data, id) => {
  tabs.sent.push(id);
  client.emit("note", data, { id }).then(
    (value) => tabs.replies.push({ id, value }),
    (error) => tabs.replies.push({ id, error: error.code }),
  );
};
tabs.result = async (id) => {
  const r = await client.result(id);
  return r === undefined ? null : { ok: r.ok, value: r.ok ? r.value : r.error.code };
};
tabs.close = () => client.close();
tabs.stored = (key) => storage.get(key);
tabs.keys = () => params.get("storage") !== "idb" ? Promise.resolve(Object.keys(localStorage)) :
  new Promise((resolve, reject) => {
    const open = indexedDB.open("assured");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const query = db.transaction("kv").objectStore("kv").getAllKeys();
      query.onerror = () => reject(query.error);
      query.onsuccess = () => { db.close(); resolve(query.result.map(String)); };
    };
  });
await client.connect();
tabs.ready = true;
</script>
</body>
</html>`;

/** What the page exposes on `window.tabs`. */
export interface TabsApi {
  mail: { offset: number; data: unknown }[];
  outcomes: { stream: string; recovered: boolean; offset: number }[];
  errors: { code: string; message: string }[];
  replies: { id: string; value?: unknown; error?: string }[];
  results: { id: string; ok: boolean; value: unknown }[];
  sent: string[];
  ready: boolean;
  connected(): boolean;
  pending(): string[];
  emit(data: unknown, id: string): void;
  result(id: string): Promise<{ ok: boolean; value: unknown } | null>;
  close(): Promise<void>;
  /** The value stored under `key` in the page's Assured storage, or null. */
  stored(key: string): Promise<string | null>;
  /** Every key Assured has in the shared storage. */
  keys(): Promise<string[]>;
}
