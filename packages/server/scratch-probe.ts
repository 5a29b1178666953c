import { type Socket, io } from "socket.io-client";
import { createAssuredClient } from "@assured/client";
interface C2S { hello: (x: string) => void }
interface S2C { news: (x: number) => void }
const s: Socket<S2C, C2S> = io({ autoConnect: false });
const c = createAssuredClient(s);
const t: Socket = s;
