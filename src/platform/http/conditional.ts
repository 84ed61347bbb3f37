/**
 * Conditional GETs: does an `If-None-Match` header name the current representation? RFC 9110 §13.1.2
 * asks for the weak comparison over the whole list, so `W/"x"` matches `"x"`, any member of
 * `"a", "b"` may match, and `*` matches whenever there is a current representation (there is: we
 * have its ETag). Caches and proxies send all of these forms, not only the tag we gave them.
 */

/** An entity-tag: optional `W/`, then a quoted opaque value; etagc (RFC 9110 §8.8.3) may hold commas. */
const ENTITY_TAG = /^\s*(?:W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)/;

/** True when `header` (one value, or several header lines) matches `etag`; a malformed header never does. */
export function ifNoneMatchHits(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const current = opaque(etag);
  if (current === null) return false;
  for (const line of Array.isArray(header) ? header : [header]) {
    if (line.trim() === '*') return true;
    if (entityTags(line)?.includes(current)) return true;
  }
  return false;
}

/** The opaque parts of a list of entity-tags, or null when it is not one. */
function entityTags(line: string): string[] | null {
  const tags: string[] = [];
  let rest = line;
  while (rest.trim() !== '') {
    const member = /^\s*,/.exec(rest) ?? ENTITY_TAG.exec(rest); // the list syntax allows empty members
    if (!member) return null;
    if (member[1] !== undefined) tags.push(member[1]);
    rest = rest.slice(member[0].length);
  }
  return tags;
}

/** The opaque part of a tag we produced (`"x"` or `W/"x"`), for the weak comparison. */
function opaque(etag: string): string | null {
  const match = /^(?:W\/)?"([^"]*)"$/.exec(etag);
  return match ? match[1] : null;
}
