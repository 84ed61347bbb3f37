/**
 * Event-type patterns of an endpoint (`score.*`, `payment.succeeded`, `*`): `*` matches any run of
 * characters, everything else is literal. The same rule is written once for JS (`matchesPattern`) and
 * once for SQL (`PATTERN_MATCH_SQL`), so the intake can match in one statement.
 */
export const PATTERN_SYNTAX = /^[a-z0-9_.*]{1,100}$/;

const compiled = new Map<string, RegExp>();

export function patternRegExp(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) {
    const source = pattern
      .split('*')
      .map((part) => part.replace(/[.]/g, '\\.'))
      .join('.*');
    re = new RegExp(`^${source}$`);
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re;
}

export function matchesPattern(type: string, pattern: string): boolean {
  return patternRegExp(pattern).test(type);
}

export function matchesAny(type: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => matchesPattern(type, pattern));
}

/**
 * SQL: true when the event type `$type` (a placeholder the caller names) matches one of the
 * endpoint's patterns `e.event_types`. In LIKE, `_` is a wildcard, so it is escaped; `*` becomes `%`.
 */
export const patternMatchSql = (typeExpr: string, patternsExpr: string) =>
  `EXISTS (SELECT 1 FROM unnest(${patternsExpr}) AS p(pattern)
           WHERE ${typeExpr} LIKE replace(replace(p.pattern, '_', '\\_'), '*', '%'))`;

/** Problems with a list of patterns against the catalog; empty when all are fine. */
export function patternProblems(patterns: readonly string[], catalog: readonly string[]): string[] {
  const problems: string[] = [];
  patterns.forEach((pattern, i) => {
    if (typeof pattern !== 'string' || !PATTERN_SYNTAX.test(pattern)) {
      problems.push(`eventTypes[${i}] must be an event type or a pattern of a-z, 0-9, "_", "." and "*"`);
    } else if (!catalog.some((type) => matchesPattern(type, pattern))) {
      problems.push(`eventTypes[${i}]: "${pattern}" matches no event type (see GET /webhooks/event-types)`);
    }
  });
  return problems;
}
