import type { MessageReply } from "@assured/core/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReplyOrder, type ReplySlot } from "../src/reply-order.js";

const reply = (id: string, tag: string): MessageReply => ({
  id,
  ok: true,
  payload: new TextEncoder().encode(tag),
});

/** One step against the order: open a slot, answer one (maybe twice), or end one without reply. */
type Step =
  | { kind: "open" }
  | { kind: "answer"; pick: number; tag: string }
  | { kind: "skip"; pick: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constant<Step>({ kind: "open" }),
  fc.record({
    kind: fc.constant("answer" as const),
    pick: fc.nat(),
    tag: fc.constantFrom("a", "b"),
  }),
  fc.record({ kind: fc.constant("skip" as const), pick: fc.nat() }),
);

describe("ReplyOrder", () => {
  it("sends each slot's first reply in open order, a slot leaving once and only after every earlier one (fast-check)", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const order = new ReplyOrder((error) => {
          throw error;
        });
        const slots: { slot: ReplySlot; id: string }[] = [];
        const sent: MessageReply[] = [];
        const left: number[] = [];
        // The model: what each slot ends with (first answer or skip), in open order.
        const first: (string | null | undefined)[] = [];
        for (const s of steps) {
          if (s.kind === "open") {
            const index = slots.length;
            const id = `m${index}`;
            const slot = order.open(
              (r) => sent.push(r),
              () => left.push(index),
            );
            slots.push({ slot, id });
            first.push(undefined);
            continue;
          }
          if (slots.length === 0) continue;
          const index = s.pick % slots.length;
          const target = slots[index]!;
          if (s.kind === "answer") {
            order.answer(target.slot, reply(target.id, s.tag));
            if (first[index] === undefined) first[index] = s.tag;
          } else {
            order.skip(target.slot);
            if (first[index] === undefined) first[index] = null;
          }
        }
        // The slots that left: the longest prefix of ended slots, in order, each once.
        let prefix = 0;
        while (prefix < first.length && first[prefix] !== undefined) prefix++;
        expect(left).toEqual(Array.from({ length: prefix }, (_, i) => i));
        const expected = first
          .slice(0, prefix)
          .flatMap((tag, i) => (tag === null ? [] : [{ id: `m${i}`, tag }]));
        expect(
          sent.map((r) => ({
            id: r.id,
            tag: new TextDecoder().decode((r as { payload: Uint8Array }).payload),
          })),
        ).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it("sends a reply answered from a leaving slot's callback in the same pass, in order", () => {
    const order = new ReplyOrder((error) => {
      throw error;
    });
    const sent: string[] = [];
    let second: ReplySlot | undefined;
    const first = order.open(
      (r) => sent.push(r.id),
      () => order.answer(second!, reply("b", "x")),
    );
    second = order.open(
      (r) => sent.push(r.id),
      () => sent.push("b left"),
    );
    order.answer(first, reply("a", "x"));
    expect(sent).toEqual(["a", "b", "b left"]);
  });

  it("lets every due slot leave when a callback throws, and reports each error", () => {
    const errors: unknown[] = [];
    const order = new ReplyOrder((error) => errors.push(error));
    const sent: string[] = [];
    const first = order.open(
      () => {
        throw new Error("ack broke");
      },
      () => sent.push("a left"),
    );
    const second = order.open(
      (r) => sent.push(r.id),
      () => sent.push("b left"),
    );
    order.answer(second, reply("b", "x"));
    order.answer(first, reply("a", "x"));
    expect(sent).toEqual(["a left", "b", "b left"]);
    expect(errors.map((e) => (e as Error).message)).toEqual(["ack broke"]);
  });
});
