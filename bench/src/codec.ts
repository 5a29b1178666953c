// Payload codec speed: Assured's MessagePack codec (binary kept exact) against JSON — the
// encoding Socket.IO itself uses for non-binary data — on the same values, in the same run.
// Run: pnpm --filter @assured/bench bench:codec
import { decode, encode } from "@assured/core";
import { formatRate, opsPerSecond } from "./measure.js";

const samples: Record<string, unknown> = {
  "chat message": { user: "ada", text: "hello, world 👋", at: 1_700_000_000_000, room: "lobby" },
  "order (nested, 40 fields)": {
    id: "o-123",
    lines: Array.from({ length: 10 }, (_, i) => ({ sku: `sku-${i}`, qty: i, price: i * 1.25 })),
    customer: { name: "Grace", email: "grace@example.com", tags: ["vip", "eu"] },
  },
  "4 KiB binary": { file: new Uint8Array(4096).fill(7) },
};

console.log(
  "| value | encode ops/s | decode ops/s | JSON.stringify ops/s | JSON.parse ops/s | encode ÷ JSON | decode ÷ JSON |",
);
console.log("|---|---|---|---|---|---|---|");
for (const [label, value] of Object.entries(samples)) {
  const bytes = encode(value);
  const json = JSON.stringify(value);
  const enc = opsPerSecond(() => encode(value));
  const dec = opsPerSecond(() => decode(bytes));
  const jsonEnc = opsPerSecond(() => JSON.stringify(value));
  const jsonDec = opsPerSecond(() => JSON.parse(json));
  console.log(
    `| ${label} (${bytes.byteLength} B) | ${formatRate(enc)} | ${formatRate(dec)} | ${formatRate(jsonEnc)} | ${formatRate(jsonDec)} | ${(enc / jsonEnc).toFixed(2)} | ${(dec / jsonDec).toFixed(2)} |`,
  );
}
