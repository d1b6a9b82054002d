/** Bounded concurrency for asking many nodes at once. */

/** Enough sockets for any Pi cluster at once, without opening thousands for a huge inventory. */
export const MAX_IN_FLIGHT = 64;

/** `fn` over every item, at most `limit` at once; results in the items' order. */
export async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
