/**
 * Membership in a list of files already in path order (code-unit order, as the scanner sorts),
 * by binary search: for a million files, a Set of their paths would cost ~50 MB more.
 */
export class SortedPaths {
  constructor(private readonly files: readonly { readonly path: string }[]) {}

  has(path: string): boolean {
    let lo = 0;
    let hi = this.files.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = (this.files[mid] as { readonly path: string }).path;
      if (at === path) return true;
      if (at < path) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }
}
