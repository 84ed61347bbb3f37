import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.setup.js';
import { ConfigError, loadConfig } from './config/index.js';

async function bootstrap() {
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
  if (generated.length > 0) {
    // Development only: production requires both. Printed once so a developer can call the admin API.
    for (const name of generated) {
      const value = name === 'ADMIN_API_KEY' ? config.auth.adminApiKey : config.auth.jwtSecret;
      console.log(`${name} was not set; generated for this run: ${value}`);
    }
  }

  const app = await createApp(config, { shutdownHooks: true });
  const shutdown = () => {
    // Hard stop if a graceful close hangs (a stuck connection or job).
    setTimeout(() => process.exit(1), config.app.shutdownTimeoutMs).unref();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);

  await app.listen({ port: config.app.port, host: config.app.host });
  new Logger('Main').log(
    `listening on ${await app.getUrl()} (instance ${config.app.instanceId}, demo ${config.app.demoMode ? 'on' : 'off'})`,
  );
}

void bootstrap();
