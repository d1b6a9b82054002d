/**
 * Which content types are worth precompressing. Shared by the release builder, the server and
 * the benchmark's baselines, so "compressible" means the same thing when a variant is made and
 * when it is served.
 */

const TEXT_LIKE = /^(?:text\/|application\/(?:javascript|ecmascript|json|ld\+json|manifest\+json|xml|xhtml\+xml|rss\+xml|atom\+xml|wasm|x-javascript|x-ndjson|geo\+json|source-map)|image\/(?:svg\+xml|x-icon|vnd\.microsoft\.icon|bmp)|font\/(?:ttf|otf)|application\/(?:vnd\.ms-fontobject|x-font-ttf))/;
const SUFFIX = /\+(?:json|xml)(?:;|$)/;

/** True when a response of this Content-Type usually shrinks under brotli or gzip. */
export function isCompressible(contentType: string): boolean {
  return TEXT_LIKE.test(contentType) || SUFFIX.test(contentType);
}
