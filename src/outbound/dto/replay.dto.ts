import { DateTimeField } from '#src/platform/http/fields.js';

export class ReplayDto {
  @DateTimeField({ example: '2026-11-21T10:00:00Z', description: 'Re-send every matching message since this time' })
  since: Date;
}
