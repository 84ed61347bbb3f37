// Jest in ESM mode (NODE_OPTIONS=--experimental-vm-modules), TypeScript through @swc/jest.
import { readFileSync } from 'node:fs';

const swc = JSON.parse(readFileSync(new URL('./.swcrc', import.meta.url), 'utf8'));
const shared = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { ...swc, swcrc: false }] },
  moduleNameMapper: {
    // see test/shims/content-disposition.cjs
    '^content-disposition$': '<rootDir>/test/shims/content-disposition.cjs',
    '^#src/(.*)\\.js$': '<rootDir>/src/$1',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
};

export default {
  testTimeout: 60000,
  // Every suite closes its apps, but ioredis/BullMQ reconnect timers left after the Redis-outage
  // suites once kept Jest alive after a failed run; CI must end with a result, not at its time limit.
  forceExit: true,
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'] },
    { ...shared, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
};
