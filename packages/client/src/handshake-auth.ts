import type { HandshakeAuth } from "@assured/core/protocol";
import type { Socket } from "socket.io-client";

type AuthData = Record<string, unknown>;

/**
 * Makes the socket's `auth` a function evaluated at every (re)connect that sends the
 * application's own auth (object or function) plus `assured`: the protocol version, client id
 * and subscriptions with their current positions. Returns a function that restores the
 * application's auth.
 */
export function installHandshakeAuth(socket: Socket, handshake: () => HandshakeAuth): () => void {
  const appAuth = socket.auth;
  socket.auth = (cb: (data: object) => void) => {
    const send = (data: unknown) => {
      const own = typeof data === "object" && data !== null ? (data as AuthData) : {};
      cb({ ...own, assured: handshake() });
    };
    if (typeof appAuth === "function") appAuth(send);
    else send(appAuth);
  };
  return () => {
    socket.auth = appAuth;
  };
}
