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
