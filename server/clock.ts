/**
 * Time as the main thread's owners (worker pool, watchers) see it: injected, so their backoff
 * and debouncing are tested with a hand-driven clock instead of sleeps.
 */

/** What a timer handle is depends on the clock; only the clock that made it reads it. */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds on a monotonic-enough scale (Date.now() for the system clock). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number): TimerHandle => setTimeout(fn, ms),
  clearTimeout: (handle: TimerHandle): void => clearTimeout(handle as NodeJS.Timeout),
});

export interface Debounced {
  /** (Re)starts the wait: `fn` runs `ms` after the last trigger. */
  trigger(): void;
  /** Drops a pending run. */
  cancel(): void;
}

/** Runs `fn` once a burst of triggers has been quiet for `ms`. */
export function debounce(clock: Clock, ms: number, fn: () => void): Debounced {
  let timer: TimerHandle;
  const cancel = (): void => {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
  };
  return {
    trigger() {
      cancel();
      timer = clock.setTimeout(() => {
        timer = undefined;
        fn();
      }, ms);
    },
    cancel,
  };
}
