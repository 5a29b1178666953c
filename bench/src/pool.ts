/**
 * Runs `send(0)` … `send(count - 1)` keeping at most `limit` unanswered at a time: an application
 * that sends messages as fast as it gets answers, with a bounded number outstanding.
 */
export async function sendPooled(
  count: number,
  limit: number,
  send: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}
