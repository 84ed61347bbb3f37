import { accessLogLevel, requestId } from './logger.js';

describe('access log level and request id', () => {
  it('2xx/3xx → info (log), 4xx → warn, 5xx → error', () => {
    expect([200, 304, 400, 404, 429, 500, 503].map(accessLogLevel)).toEqual([
      'log',
      'log',
      'warn',
      'warn',
      'warn',
      'error',
      'error',
    ]);
  });

  it("keeps a client's plain X-Request-Id and replaces anything else", () => {
    const req = (value?: string) => ({ headers: value === undefined ? {} : { 'x-request-id': value } }) as never;
    expect(requestId(req('abc-123.x_y'))).toBe('abc-123.x_y');
    expect(requestId(req('<script>'))).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestId(req('a'.repeat(129)))).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestId(req())).toMatch(/^[0-9a-f-]{36}$/);
  });
});
