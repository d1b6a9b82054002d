/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Polls a condition; resolves true when it holds, false when `ms` pass first. */
export async function until(fn: () => boolean | Promise<boolean>, ms = 10000): Promise<boolean> {
  return waitFor('condition', async () => ((await fn()) ? true : undefined), ms).catch(() => false);
}
