import { BadRequestException, NotFoundException, ServiceUnavailableException } from '@nestjs/common';
import { toErrorBody } from './error.filter.js';

describe('toErrorBody', () => {
  it('joins validation messages into one string', () => {
    const body = toErrorBody(new BadRequestException(['name must be a string', 'plan must be one of free, pro']));
    expect(body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'name must be a string; plan must be one of free, pro',
    });
  });

  it('keeps a plain message', () => {
    expect(toErrorBody(new NotFoundException('user 1 not found'))).toEqual({
      statusCode: 404,
      error: 'Not Found',
      message: 'user 1 not found',
    });
  });

  it("maps Fastify's own 4xx errors and hides anything else behind a 500", () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), { statusCode: 413 });
    expect(toErrorBody(tooLarge)).toEqual({
      statusCode: 413,
      error: 'Payload Too Large',
      message: 'Request body is too large',
    });
    expect(toErrorBody(new Error('db password is hunter2'))).toEqual({
      statusCode: 500,
      error: 'Internal Server Error',
      message: 'internal server error',
    });
  });

  it('names what is down for a failed health check', () => {
    const body = toErrorBody(
      new ServiceUnavailableException({
        status: 'error',
        details: { postgres: { status: 'up' }, redis: { status: 'down' } },
      }),
    );
    expect(body.statusCode).toBe(503);
    expect(body.message).toBe('unavailable: redis');
  });
});

describe('toErrorBody: backing services unavailable', () => {
  it('maps refused connections, pool and Redis command timeouts and Postgres shutdown codes to 503', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const poolTimeout = new Error('timeout exceeded when trying to connect');
    const adminShutdown = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    });
    const wrapped = Object.assign(new Error('query failed'), { driverError: poolTimeout });
    const redisTimeout = new Error('Command timed out'); // ioredis commandTimeout
    for (const error of [refused, poolTimeout, adminShutdown, wrapped, redisTimeout]) {
      expect(toErrorBody(error)).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'a backing service is unavailable; retry later',
      });
    }
    expect(toErrorBody(new Error('boom')).statusCode).toBe(500);
    expect(toErrorBody(Object.assign(new Error('duplicate key'), { code: '23505' })).statusCode).toBe(500);
  });
});
