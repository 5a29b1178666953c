// An appender in a process of its own: appends `batches` batches of two entries to a stream
// on its own pool, then prints how many events it appended and exits. Used by
// concurrent-appenders.test.ts (prefix visibility across processes).
import { PostgresEventStore } from "../../src/index.js";

const [url, schema, stream, label, batches] = process.argv.slice(2);
const store = new PostgresEventStore({
  connection: url!,
  schema: schema!,
  poolOptions: { max: 2 },
});
let appended = 0;
for (let b = 0; b < Number(batches); b++) {
  const payload = new Uint8Array([b & 0xff]);
  const results = await store.append(stream!, [
    { id: `${label}-${b}-0`, name: "event", payload },
    { id: `${label}-${b}-1`, name: "event", payload },
  ]);
  appended += results.filter((r) => !r.duplicate).length;
}
await store.close();
process.stdout.write(`appended ${appended}\n`);
