/**
 * Development secrets that outlive a restart. In development (NODE_ENV unset or `development`) an
 * ADMIN_API_KEY or JWT_SECRET that is not set is read from a git-ignored file (DEV_SECRETS_FILE,
 * default `.dev-secrets.json` in the working directory), or generated and written there (mode 0600),
 * so a saved admin key and issued user tokens keep working after `npm start` again. Production
 * requires both variables and tests set their own, so neither reads nor writes the file.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type AppConfig, loadConfig } from './app-config.js';
import { ConfigError, type Env } from './env.js';

export const DEFAULT_DEV_SECRETS_FILE = '.dev-secrets.json';
const NAMES = ['ADMIN_API_KEY', 'JWT_SECRET'] as const;
type SecretName = (typeof NAMES)[number];

export interface LoadedConfig {
  config: AppConfig;
  /** Secrets made up for this start (saved to `secretsFile` when there is one). */
  generated: string[];
  /** Secrets read back from `secretsFile`. */
  reused: string[];
  /** The dev secrets file, in development only. */
  secretsFile?: string;
  /** Why the generated secrets could not be saved, if they could not. */
  saveError?: string;
}

function readKept(file: string): Partial<Record<SecretName, string>> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError([`DEV_SECRETS_FILE ${file} cannot be read: ${(error as Error).message}`]);
  }
  let kept: unknown;
  try {
    kept = JSON.parse(text);
  } catch {
    kept = undefined;
  }
  const valid =
    typeof kept === 'object' &&
    kept !== null &&
    !Array.isArray(kept) &&
    NAMES.every((name) => ['string', 'undefined'].includes(typeof (kept as Record<string, unknown>)[name]));
  if (!valid) {
    throw new ConfigError([
      `DEV_SECRETS_FILE ${file} must be a JSON object of ADMIN_API_KEY and JWT_SECRET strings (delete it to generate new ones)`,
    ]);
  }
  const result: Partial<Record<SecretName, string>> = {};
  for (const name of NAMES) {
    const value = (kept as Record<string, string | undefined>)[name]?.trim();
    if (value) result[name] = value;
  }
  return result;
}

/**
 * `loadConfig` plus the development secrets file: what the process runs with. Only the entry
 * point calls this; everything else (tests included) takes its environment as given.
 */
export function loadConfigKeepingDevSecrets(env: Env = process.env, cwd = process.cwd()): LoadedConfig {
  const nodeEnv = env.NODE_ENV?.trim() || 'development';
  if (nodeEnv !== 'development') return { ...loadConfig(env), reused: [] };

  const secretsFile = resolve(cwd, env.DEV_SECRETS_FILE?.trim() || DEFAULT_DEV_SECRETS_FILE);
  const kept = readKept(secretsFile);
  const reused = NAMES.filter((name) => !env[name]?.trim() && kept[name] !== undefined);
  const { config, generated } = loadConfig({ ...env, ...Object.fromEntries(reused.map((n) => [n, kept[n]])) });
  if (generated.length === 0) return { config, generated, reused, secretsFile };

  const values: Record<SecretName, string> = {
    ADMIN_API_KEY: config.auth.adminApiKey,
    JWT_SECRET: config.auth.jwtSecret,
  };
  const next = { ...kept, ...Object.fromEntries(generated.map((name) => [name, values[name as SecretName]])) };
  try {
    // Written whole, then renamed over the old file: a crash never leaves half a file behind.
    const temporary = `${secretsFile}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, secretsFile);
    return { config, generated, reused, secretsFile };
  } catch (error) {
    return { config, generated, reused, saveError: (error as Error).message };
  }
}
