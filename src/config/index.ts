export { AppConfig, DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, loadConfig } from './app-config.js';
export { ConfigError } from './env.js';
