/** The `{ items, page, limit, total }` envelope of every list, for the API docs; each list subclasses it with its items. */
import { ApiProperty } from '@nestjs/swagger';

export abstract class PageResponseDto {
  @ApiProperty({ example: 1 })
  page: number;

  @ApiProperty({ example: 20 })
  limit: number;

  @ApiProperty({ example: 1, description: 'Items over all pages' })
  total: number;
}
