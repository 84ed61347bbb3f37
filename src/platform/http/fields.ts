/**
 * The two kinds of client value that need more than a type check, as one decorator each, so that
 * every DTO bounds them the same way and the OpenAPI document states the bounds:
 * - an integer has an upper bound that fits its column (`?page=1e20` is a 400, not a Postgres
 *   `bigint out of range`), and from a query string only plain decimal digits count;
 * - a date-time is an RFC 3339 string (the ISO 8601 profile every client library writes), parsed
 *   exactly and within years 0001–9999: `true`, `0`, epoch numbers, week dates, basic format and
 *   comma fractions are refused instead of being guessed at by `new Date()`.
 */
import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsDate, IsInt, IsOptional, Max, Min } from 'class-validator';

interface FieldOptions {
  optional?: boolean;
  description?: string;
  example?: unknown;
  default?: unknown;
}

/** Every integer column we write is at most a Postgres bigint; JavaScript numbers are exact up to 2^53 − 1. */
export const MAX_SAFE_BIGINT = Number.MAX_SAFE_INTEGER;

export function IntField(options: FieldOptions & { min: number; max: number }): PropertyDecorator {
  const { min, max, optional, ...doc } = options;
  return applyDecorators(
    (optional ? ApiPropertyOptional : ApiProperty)({ type: 'integer', minimum: min, maximum: max, ...doc }),
    ...(optional ? [IsOptional()] : []),
    Transform(({ value }: { value: unknown }) =>
      typeof value === 'string' && /^-?\d{1,20}$/.test(value) ? Number(value) : value,
    ),
    IsInt({ message: ({ property }) => `${property} must be an integer from ${min} to ${max}` }),
    Min(min, { message: ({ property }) => `${property} must be an integer from ${min} to ${max}` }),
    Max(max, { message: ({ property }) => `${property} must be an integer from ${min} to ${max}` }),
  );
}

/** 9999-12-31T23:59:59.999Z: the last instant an RFC 3339 date-time can write; epoch-millisecond fields stop there too. */
export const MAX_EPOCH_MS = 253_402_300_799_999;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** The instant an RFC 3339 date-time names, or undefined unless every field is in range. */
export function parseDateTime(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const [sign, offH, offM] = [m[8], Number(m[9] ?? 0), Number(m[10] ?? 0)];
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  if (offH > 23 || offM > 59) return undefined;
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day); // setUTCFullYear: years 0–99 are not taken for 19xx
  if (utc.getUTCMonth() !== month - 1 || utc.getUTCDate() !== day) return undefined; // 2026-02-30
  const millis = Number((m[7] ?? '0').padEnd(3, '0').slice(0, 3));
  const offset = (sign === '-' ? -1 : 1) * (offH * 60 + offM);
  return new Date(utc.getTime() + ((hour * 60 + minute - offset) * 60 + second) * 1000 + millis);
}

export function DateTimeField(options: FieldOptions = {}): PropertyDecorator {
  const { optional, ...doc } = options;
  return applyDecorators(
    (optional ? ApiPropertyOptional : ApiProperty)({ type: 'string', format: 'date-time', ...doc }),
    ...(optional ? [IsOptional()] : []),
    // An exact parse becomes a Date; anything else stays as sent and fails IsDate below.
    Transform(({ value }: { value: unknown }) => parseDateTime(value) ?? value),
    IsDate({
      message: ({ property }) =>
        `${property} must be an RFC 3339 date-time such as 2026-11-21T20:00:00Z (years 0001–9999)`,
    }),
  );
}
