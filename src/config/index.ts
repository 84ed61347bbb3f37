export { AppConfig, DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, loadConfig } from './app-config.js';
export { DEFAULT_DEV_SECRETS_FILE, type LoadedConfig, loadConfigKeepingDevSecrets } from './dev-secrets.js';
export { ConfigError } from './env.js';
