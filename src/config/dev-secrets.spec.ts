import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_DEV_SECRETS_FILE, loadConfigKeepingDevSecrets } from './dev-secrets.js';
import { ConfigError } from './env.js';

describe('loadConfigKeepingDevSecrets', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lf-dev-secrets-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('in development, generates the missing secrets once, keeps them (0600) in the working directory, reuses them', () => {
    const first = loadConfigKeepingDevSecrets({}, dir);
    const file = join(dir, DEFAULT_DEV_SECRETS_FILE);
    expect(first.generated).toEqual(['ADMIN_API_KEY', 'JWT_SECRET']);
    expect(first.secretsFile).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      ADMIN_API_KEY: first.config.auth.adminApiKey,
      JWT_SECRET: first.config.auth.jwtSecret,
    });

    const second = loadConfigKeepingDevSecrets({ NODE_ENV: 'development' }, dir);
    expect(second.generated).toEqual([]);
    expect(second.reused).toEqual(['ADMIN_API_KEY', 'JWT_SECRET']);
    expect(second.config.auth).toEqual(first.config.auth);
  });

  it('never stores a secret the environment sets, and the environment wins over the file', () => {
    const file = join(dir, 'elsewhere.json');
    const given = { DEV_SECRETS_FILE: file, ADMIN_API_KEY: 'from-the-environment-0123' };
    const first = loadConfigKeepingDevSecrets(given, dir);
    expect(first.generated).toEqual(['JWT_SECRET']);
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')))).toEqual(['JWT_SECRET']);

    writeFileSync(file, JSON.stringify({ ADMIN_API_KEY: 'k'.repeat(20), JWT_SECRET: 's'.repeat(40) }));
    const second = loadConfigKeepingDevSecrets(given, dir);
    expect(second.config.auth.adminApiKey).toBe('from-the-environment-0123');
    expect(second.config.auth.jwtSecret).toBe('s'.repeat(40));
    expect(second.reused).toEqual(['JWT_SECRET']);
  });

  it('neither reads nor writes the file in production or tests', () => {
    writeFileSync(join(dir, DEFAULT_DEV_SECRETS_FILE), JSON.stringify({ ADMIN_API_KEY: 'k'.repeat(20) }));
    const test = loadConfigKeepingDevSecrets({ NODE_ENV: 'test' }, dir);
    expect(test.config.auth.adminApiKey).not.toBe('k'.repeat(20));
    expect(test.secretsFile).toBeUndefined();
    expect(() => loadConfigKeepingDevSecrets({ NODE_ENV: 'production' }, dir)).toThrow(/ADMIN_API_KEY is required/);

    const other = mkdtempSync(join(tmpdir(), 'lf-dev-secrets-'));
    try {
      loadConfigKeepingDevSecrets({ NODE_ENV: 'test' }, other);
      expect(existsSync(join(other, DEFAULT_DEV_SECRETS_FILE))).toBe(false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('a damaged file stops the boot naming it', () => {
    writeFileSync(join(dir, DEFAULT_DEV_SECRETS_FILE), '{"ADMIN_API_KEY": 42');
    expect(() => loadConfigKeepingDevSecrets({}, dir)).toThrow(ConfigError);
    expect(() => loadConfigKeepingDevSecrets({}, dir)).toThrow(
      /DEV_SECRETS_FILE .*\.dev-secrets\.json must be a JSON object/,
    );
  });
});
