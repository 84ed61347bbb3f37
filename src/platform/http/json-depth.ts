/**
 * Nesting depth of a parsed JSON value, walked without recursion (a hostile `[[[[…]]]]` body parses
 * fine but would overflow the stack of anything that recurses over it: class-transformer, the
 * validator, a logger's serializer). Stops counting once past `limit`.
 */
export const MAX_JSON_DEPTH = 64;

export function jsonDepthExceeds(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object' || ArrayBuffer.isView(node)) continue; // a raw body is bytes
    if (depth > limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}
