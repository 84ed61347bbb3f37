import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

export class MintTokenDto {
  @ApiPropertyOptional({
    minimum: 60,
    maximum: 2_592_000,
    example: 3600,
    description: 'Token lifetime in seconds (default JWT_TTL_SECONDS)',
  })
  @IsOptional()
  @IsInt()
  @Min(60)
  @Max(2_592_000)
  ttlSeconds?: number;
}
