import { BadRequestException } from '@nestjs/common';

/**
 * A subscription's `?symbols=` / `?matches=` list: comma-separated, trimmed, normalised, deduplicated.
 * Empty or absent = every topic (undefined). More than `max` topics → 400 naming the parameter.
 * The feature then checks that each topic exists (422 naming the unknown ones).
 */
export function parseTopicList(
  raw: string | undefined,
  param: string,
  max: number,
  normalise: (topic: string) => string,
): Set<string> | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const topics = new Set(
    raw
      .split(',')
      .map((topic) => normalise(topic.trim()))
      .filter(Boolean),
  );
  if (topics.size > max) throw new BadRequestException(`${param}: at most ${max} per subscription`);
  return topics;
}
