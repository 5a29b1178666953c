/**
 * Where the page stands with the server: `offline` when the browser has no network,
 * `unreachable` when the network is up but the server does not answer.
 */
export type ConnectionState = "connecting" | "online" | "offline" | "unreachable";

/** What the connection indicator and banner show. */
export interface ConnectionView {
  state: ConnectionState;
  /** Messages in the outbox, not answered by the server yet. */
  pending: number;
}

/** The socket events the watcher listens to (a Socket.IO client socket has them). */
export interface WatchedSocket {
  on(event: "connect" | "disconnect" | "connect_error", listener: () => void): unknown;
}

/**
 * Follows the socket and the browser's network: `navigator.onLine` and the `online` /
 * `offline` events say whether the browser has a network; the socket's connects, disconnects
 * and connect errors say whether the server answers. Calls `changed` after each change.
 * @returns A function giving the current state.
 */
export function watchConnection(
  socket: WatchedSocket,
  changed: (state: ConnectionState) => void,
): () => ConnectionState {
  let server: "trying" | "up" | "down" = "trying";
  const state = (): ConnectionState => {
    if (!navigator.onLine) return "offline";
    return server === "up" ? "online" : server === "down" ? "unreachable" : "connecting";
  };
  const set = (next: typeof server) => {
    server = next;
    changed(state());
  };
  socket.on("connect", () => set("up"));
  socket.on("disconnect", () => set("down"));
  socket.on("connect_error", () => set("down"));
  window.addEventListener("offline", () => changed(state()));
  // Back online: the socket is about to retry; say so until it connects or fails.
  window.addEventListener("online", () => set(server === "down" ? "trying" : server));
  return state;
}

const BANNER_TEXT: Partial<Record<ConnectionState, string>> = {
  offline:
    "You are offline. Messages you send are kept on this device and will be sent when you are back online.",
  unreachable:
    "The server cannot be reached, though your network is up. Messages you send are kept on this device and will be sent when it is back.",
};

/** Elements showing the connection: the indicator in the header and the banner below it. */
export interface ConnectionElements {
  status: HTMLElement;
  statusText: HTMLElement;
  banner: HTMLElement;
  bannerText: HTMLElement;
}

/** Shows the connection state and how many messages wait for the server. */
export function renderConnection(elements: ConnectionElements, view: ConnectionView): void {
  const { status, statusText, banner, bannerText } = elements;
  status.dataset.state = view.state;
  status.dataset.pending = String(view.pending);
  const label = {
    connecting: "Connecting…",
    online: "Online",
    offline: "Offline",
    unreachable: "Server unreachable",
  }[view.state];
  const count = view.state === "online" ? `sending ${view.pending}` : `${view.pending} waiting`;
  statusText.textContent = view.pending > 0 ? `${label} · ${count}` : label;
  statusText.title =
    view.pending === 0
      ? ""
      : `${view.pending} message${view.pending === 1 ? "" : "s"} waiting for the server`;
  const text = BANNER_TEXT[view.state];
  banner.hidden = text === undefined;
  banner.dataset.state = view.state;
  bannerText.textContent = text ?? "";
}
