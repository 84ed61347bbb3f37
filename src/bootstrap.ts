import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type CreateAppOptions, createApp } from './app.setup.js';
import { ConfigError, loadConfig } from './config/index.js';

/**
 * Reads the environment, boots the app with shutdown hooks and a hard-exit watchdog, and listens.
 * A bad environment exits with code 78 and a message naming each bad variable.
 */
export async function bootstrap(options: Pick<CreateAppOptions, 'imports'> = {}): Promise<NestFastifyApplication> {
  let loaded;
  try {
    loaded = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const { config, generated } = loaded;
  for (const name of generated) {
    // Development only (production requires both): printed once so a developer can use the admin API.
    const value = name === 'ADMIN_API_KEY' ? config.auth.adminApiKey : config.auth.jwtSecret;
    console.log(`${name} was not set; generated for this run: ${value}`);
  }

  const app = await createApp(config, { ...options, shutdownHooks: true });
  const watchdog = () => {
    // Graceful close gets SHUTDOWN_TIMEOUT_MS; a stuck connection or job must not keep us alive.
    setTimeout(() => {
      console.error('graceful shutdown timed out; exiting');
      process.exit(1);
    }, config.app.shutdownTimeoutMs).unref();
  };
  process.once('SIGTERM', watchdog);
  process.once('SIGINT', watchdog);

  await app.listen({ port: config.app.port, host: config.app.host });
  new Logger('Main').log(
    `listening on ${await app.getUrl()} (instance ${config.app.instanceId}, demo ${config.app.demoMode ? 'on' : 'off'})`,
  );
  return app;
}
