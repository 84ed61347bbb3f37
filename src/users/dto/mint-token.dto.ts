import { IntField } from '#src/platform/http/fields.js';

export class MintTokenDto {
  @IntField({ min: 60, max: 2_592_000, optional: true, description: 'Token lifetime in seconds' })
  ttlSeconds?: number;
}
