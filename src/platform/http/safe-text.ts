/**
 * What a client may put in a string we store. Postgres `text` cannot hold NUL and `jsonb` refuses
 * `\u0000`; other C0 controls, DEL and unpaired surrogates are not text either (a lone surrogate
 * would be rewritten to U+FFFD on its way to the database). One check, used by the HTTP pipeline
 * (body, query, path) and by every chat socket event, so no route or event can forget it.
 */

/** C0 controls except TAB, LF and CR; DEL; a high surrogate not followed by a low one, or a low one alone. */
const NOT_TEXT =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function isText(value: string): boolean {
  return !NOT_TEXT.test(value);
}

/**
 * The path (`body.name`, `query.symbols`, `ticks[2].symbol`) of the first string or key in `value`
 * that is not storable text, or undefined when all of it is. Depth is bounded by the JSON-depth
 * check that runs first; the walk itself is iterative.
 */
export function invalidTextPath(value: unknown, root: string): string | undefined {
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length > 0) {
    const [current, path] = stack.pop()!;
    if (typeof current === 'string') {
      if (!isText(current)) return path;
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push([current[i], `${path}[${i}]`]);
    } else if (current !== null && typeof current === 'object' && !Buffer.isBuffer(current)) {
      const entries = Object.entries(current);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i];
        const childPath = path ? `${path}.${key}` : key;
        if (!isText(key)) return path ? `${path} (a key)` : '(a key)';
        stack.push([child, childPath]);
      }
    }
  }
  return undefined;
}

export function invalidTextMessage(path: string): string {
  return `${path} contains a control character or invalid Unicode (NUL, C0 controls other than tab, CR and LF, DEL, lone surrogates are not allowed)`;
}

/**
 * A provider's payload is theirs: stored exactly as received, and processed whatever valid JSON it
 * holds. Only what we derive from it and write to Postgres must be storable, so NUL (the one
 * character `text` and `jsonb` refuse) becomes U+FFFD in the parsed copy handed to handlers.
 */
export function parseProviderJson(text: string): unknown {
  if (!text.includes('\\u0000')) return JSON.parse(text);
  return JSON.parse(text, function (this: Record<string, unknown>, key, value: unknown) {
    // Keys too: the reviver sees the original key; rewrite it on the holder.
    if (key.includes('\u0000')) {
      delete this[key];
      this[key.replaceAll('\u0000', '\uFFFD')] =
        typeof value === 'string' ? value.replaceAll('\u0000', '\uFFFD') : value;
      return undefined;
    }
    return typeof value === 'string' ? value.replaceAll('\u0000', '\uFFFD') : value;
  });
}

/** The same rule for a single string we derive from a provider's payload (an event type). */
export function storableText(value: string): string {
  return value.replaceAll('\u0000', '\uFFFD');
}
