import { IntField } from '#src/platform/http/fields.js';

export class MintTokenDto {
  @IntField({
    min: 60,
    max: 2_592_000,
    optional: true,
    example: 3600,
    description: 'Token lifetime in seconds (default JWT_TTL_SECONDS)',
  })
  ttlSeconds?: number;
}
