/**
 * The one error type of the release commands: something a person can act on (a bad path, a
 * malformed rules file, a release that does not verify). The CLI prints its message as one line;
 * `code` is stable for scripts and tests.
 */

export const RELEASE_ERROR_CODES = [
  'PI_ORIGIN_RELEASE_USAGE',
  'PI_ORIGIN_RELEASE_SITE',
  'PI_ORIGIN_RELEASE_RULES',
  'PI_ORIGIN_RELEASE_REDIRECTS',
  'PI_ORIGIN_RELEASE_CHANGED',
  'PI_ORIGIN_RELEASE_BUSY',
  'PI_ORIGIN_RELEASE_NOT_FOUND',
  'PI_ORIGIN_RELEASE_INVALID',
  'PI_ORIGIN_RELEASE_POINTER',
  'PI_ORIGIN_RELEASE_NO_PREVIOUS',
  'PI_ORIGIN_RELEASE_IO',
  'PI_ORIGIN_RELEASE_INTERRUPTED',
  'PI_ORIGIN_RELEASE_CHANGES',
  'PI_ORIGIN_RELEASE_PARENT',
] as const;
export type ReleaseErrorCode = (typeof RELEASE_ERROR_CODES)[number];

export class ReleaseError extends Error {
  override readonly name = 'ReleaseError';
  constructor(
    message: string,
    readonly code: ReleaseErrorCode,
    /** For PI_ORIGIN_RELEASE_INVALID: every problem verify found, one line each. */
    readonly problems: readonly string[] = [],
  ) {
    super(message);
  }
}

/** `ENOENT` and friends, or the message: short enough for a one-line error. */
export function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return typeof err?.code === 'string' ? err.code : e instanceof Error ? e.message : String(e);
}
