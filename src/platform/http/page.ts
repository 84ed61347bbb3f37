import { IntField } from './fields.js';

/** The last page a list serves: its offset, (page − 1) × limit, stays far inside a bigint. */
export const MAX_PAGE = 1_000_000;

/** `?page=&limit=` for every list: page from 1 (at most MAX_PAGE), limit at most 100. */
export class PageQueryDto {
  @IntField({ min: 1, max: MAX_PAGE, optional: true, default: 1 })
  page: number = 1;

  @IntField({ min: 1, max: 100, optional: true, default: 20 })
  limit: number = 20;
}

export interface Page<T> {
  items: T[];
  page: number;
  limit: number;
  total: number;
}

export function page<T>(items: T[], total: number, query: PageQueryDto): Page<T> {
  return { items, page: query.page, limit: query.limit, total };
}
