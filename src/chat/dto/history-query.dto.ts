import { IntField, MAX_SAFE_BIGINT } from '#src/platform/http/fields.js';

/** Keyset page of a conversation's messages: the `limit` newest before `beforeSeq` (none = the newest). */
export class HistoryQueryDto {
  @IntField({
    min: 1,
    max: MAX_SAFE_BIGINT,
    optional: true,
    description: 'Messages with a smaller seq; from `nextBeforeSeq` of the previous page',
  })
  beforeSeq?: number;

  @IntField({ min: 1, max: 100, optional: true, default: 50 })
  limit: number = 50;
}
