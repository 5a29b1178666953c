import { setTimeout as sleep } from "node:timers/promises";
import type { Findings } from "./oracle.js";

/** Frames sent, per kind of sender. */
export interface FrameCounts {
  /** Socket.IO packets emitted by hostile `socket.io-client` peers. */
  socketIo: number;
  /** WebSocket frames written by raw engine.io peers. */
  raw: number;
  /** HTTP requests against the engine.io endpoint. */
  http: number;
  /** Connections opened with a generated handshake (Socket.IO and raw). */
  handshakes: number;
  /** Messages the well-behaved client sent. */
  good: number;
}

/** What every hostile driver shares during one run. */
export interface FuzzContext {
  readonly url: string;
  readonly port: number;
  readonly findings: Findings;
  readonly frames: FrameCounts;
  /** Current epoch of a stream (for frames that should carry the right one). */
  epochOf(stream: unknown): string;
  /** Session ids (`pid`) the server handed out, for raw peers that try to steal one. */
  readonly sessionIds: string[];
  /** True once the run should wind down. */
  stopped(): boolean;
}

/** Sleeps, but returns early (within ~50 ms) once the run stops. */
export async function pause(ctx: FuzzContext, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!ctx.stopped() && Date.now() < until) await sleep(Math.min(50, until - Date.now()));
}

/** A 32-bit seed derived from the run's seed and a driver's coordinates. */
export function deriveSeed(seed: number, a: number, b: number): number {
  let h = (seed ^ 0x5bd1e995) >>> 0;
  h = Math.imul(h ^ (a + 0x9e3779b9), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13) ^ (b + 0x7f4a7c15), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) | 0;
}
