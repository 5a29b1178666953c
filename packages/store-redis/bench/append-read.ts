/**
 * Append and replay throughput of RedisEventStore against the raw ioredis driver writing and
 * reading the same data structure, in the same run, plus Redis memory per event.
 *
 *   pnpm bench                                   # REDIS_URL, or a redis-server it starts
 *   pnpm bench --events 50000 --memory 1000000
 */
import { parseArgs } from "node:util";
import { encode } from "@assured/core";
import { newId } from "@assured/core/store";
import { type RunningService, startRedis } from "@assured/test-services";
import { Redis } from "ioredis";
import { RedisEventStore, streamLogKey } from "../src/index.js";
import { encodeRecord } from "../src/record-blob.js";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "20000" },
    batch: { type: "string", default: "100" },
    concurrency: { type: "string", default: "256" },
    page: { type: "string", default: "1000" },
    memory: { type: "string", default: "200000" },
    rounds: { type: "string", default: "3" },
  },
});
const EVENTS = Number(values.events);
const BATCH = Number(values.batch);
const CONCURRENCY = Number(values.concurrency);
const PAGE = Number(values.page);
const MEMORY_EVENTS = Number(values.memory);
const ROUNDS = Number(values.rounds);

const payload = (i: number) => encode({ text: "hello, world", n: i });
const event = (i: number) => ({ name: "message", payload: payload(i) });

/** Runs `task(i)` for i in [0, count) with at most `limit` in flight. */
async function inFlight(count: number, limit: number, task: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/** The store's hash layout written with plain HSETs: no dedup check, retention or atomicity. */
function rawWriter(redis: Redis, key: string) {
  let head = 0;
  const add = (pipeline: ReturnType<Redis["pipeline"]> | Redis, i: number) => {
    const id = newId();
    head++;
    const record = encodeRecord({ id, name: "message", payload: payload(i), time: Date.now() });
    return pipeline.hset(key, head, record, `i:${id}`, head, "head", head);
  };
  return {
    /** One HSET per event, awaited one by one. */
    one: (i: number) => add(redis, i),
    /** A pipeline of `BATCH` HSETs. */
    batch: async (b: number) => {
      const pipeline = redis.pipeline();
      for (let i = 0; i < BATCH; i++) add(pipeline, b * BATCH + i);
      await pipeline.exec();
    },
  };
}

/** A replay with the raw driver: HMGET of each page's offset fields, page after page. */
async function rawReplay(redis: Redis, key: string, events: number): Promise<void> {
  for (let from = 1; from <= events; from += PAGE) {
    const count = Math.min(PAGE, events - from + 1);
    const fields = Array.from({ length: count }, (_, i) => String(from + i));
    await redis.hmgetBuffer(key, "epoch", "head", "earliest", ...fields);
  }
}

async function storeReplay(store: RedisEventStore, stream: string, events: number) {
  let after = 0;
  while (after < events) {
    const page = await store.read(stream, { after, limit: PAGE });
    after = page.records.at(-1)?.offset ?? events;
  }
}

type Rates = Record<string, number>;

/** Every workload once on fresh keys; returns events/s by name. */
async function runAll(redis: Redis, url: string, n: number): Promise<Rates> {
  const prefix = `bench:${newId()}:`;
  const store = new RedisEventStore({ redis: url, keyPrefix: prefix });
  const raw = rawWriter(redis, streamLogKey(prefix, "raw"));
  const rawSerial = rawWriter(redis, streamLogKey(prefix, "raw-serial"));
  const rates: Rates = {};
  const time = async (name: string, events: number, run: () => Promise<unknown>) => {
    const start = performance.now();
    await run();
    rates[name] = events / ((performance.now() - start) / 1000);
  };
  try {
    await time("rawSerial", n / 10, () => inFlight(n / 10, 1, rawSerial.one));
    await time("serial", n / 10, () =>
      inFlight(n / 10, 1, (i) => store.append("serial", [event(i)])),
    );
    await time("rawBatched", n, () => inFlight(n / BATCH, 4, raw.batch));
    await time("concurrent", n, () =>
      inFlight(n, CONCURRENCY, (i) => store.append("concurrent", [event(i)])),
    );
    await time("batched", n, () =>
      inFlight(n / BATCH, 4, (b) =>
        store.append(
          "batched",
          Array.from({ length: BATCH }, (_, i) => event(b * BATCH + i)),
        ),
      ),
    );
    for (let pass = 0; pass < 3; pass++) {
      await time(`rawReplay${pass}`, n, () => rawReplay(redis, streamLogKey(prefix, "raw"), n));
      await time(`replay${pass}`, n, () => storeReplay(store, "batched", n));
    }
  } finally {
    const keys = ["raw", "raw-serial", "serial", "concurrent", "batched"];
    await redis.del(...keys.map((k) => streamLogKey(prefix, k)));
    await store.close();
  }
  return rates;
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info("memory");
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}

async function memoryPerEvent(redis: Redis, url: string, maxLength?: number) {
  const prefix = `bench-memory:${newId()}:`;
  const retention = maxLength === undefined ? {} : { maxLength };
  const store = new RedisEventStore({ redis: url, keyPrefix: prefix, retention });
  const before = await usedMemory(redis);
  await inFlight(MEMORY_EVENTS / 1000, 4, () =>
    store.append(
      "memory",
      Array.from({ length: 1000 }, (_, i) => event(i)),
    ),
  );
  const bytes = (await usedMemory(redis)) - before;
  const head = await store.head("memory");
  await redis.del(streamLogKey(prefix, "memory"));
  await store.close();
  return { retained: head.head - head.earliest + 1, bytes };
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US").padStart(10);

async function main(): Promise<void> {
  let server: RunningService | undefined;
  let url = process.env.REDIS_URL;
  if (url === undefined) {
    server = await startRedis();
    url = server.url;
  }
  const redis = new Redis(url);
  try {
    console.log(
      `redis ${url}; ${EVENTS} events of ${payload(0).length} payload bytes; best of ${ROUNDS} rounds\n`,
    );
    await runAll(redis, url, Math.min(EVENTS, 5_000)); // warm-up: JIT and script cache
    // The best of several rounds: other processes on the machine only ever slow a round down.
    const r: Rates = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, rate] of Object.entries(await runAll(redis, url, EVENTS))) {
        const key = name.replace(/\d+$/, "");
        r[key] = Math.max(r[key] ?? 0, rate);
      }
    }
    const rows: [string, number, number][] = [
      ["append 1 event/call, awaited one by one", r.serial!, r.rawSerial!],
      [`append 1 event/call, ${CONCURRENCY} calls in flight`, r.concurrent!, r.rawBatched!],
      [`append ${BATCH} events/call, 4 calls in flight`, r.batched!, r.rawBatched!],
      [`replay read, pages of ${PAGE}`, r.replay!, r.rawReplay!],
    ];
    console.log(
      `${"workload".padEnd(46)} ${"store/s".padStart(10)} ${"raw/s".padStart(10)}  ratio`,
    );
    for (const [name, store, raw] of rows) {
      console.log(`${name.padEnd(46)} ${fmt(store)} ${fmt(raw)}  ${(store / raw).toFixed(2)}x`);
    }
    console.log(
      "\nraw: one HSET per event awaited (serial row); pipelines of " +
        `${BATCH} HSETs, 4 in flight (append rows); HMGET per page, not decoded (replay row)`,
    );
    if (MEMORY_EVENTS > 0) {
      console.log(
        `\nRedis used_memory after appending ${MEMORY_EVENTS} events in 1,000-event calls`,
      );
      for (const maxLength of [undefined, MEMORY_EVENTS / 10]) {
        const { retained, bytes } = await memoryPerEvent(redis, url, maxLength);
        const label = maxLength === undefined ? "no retention" : `maxLength ${maxLength}`;
        const perMillion = ((bytes / retained) * 1e6) / 2 ** 20;
        console.log(
          `  ${label.padEnd(18)} ${fmt(retained)} retained ${(bytes / 2 ** 20).toFixed(1).padStart(8)} MiB ` +
            `${fmt(bytes / retained)} B/event ${fmt(perMillion)} MiB per million retained`,
        );
      }
    }
  } finally {
    await redis.quit();
    await server?.stop();
  }
}

await main();
