import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AddressInfo } from 'node:net';
import { type CreateAppOptions, createApp } from './app.setup.js';
import { ConfigError, type LoadedConfig, loadConfigKeepingDevSecrets } from './config/index.js';

/**
 * The address the server really bound, as a URL, and when it is every interface (0.0.0.0, ::) the
 * URL to open on this machine. Nest's getUrl() shows 127.0.0.1 for 0.0.0.0, which hides that the
 * port is open to the network.
 */
export function listeningUrls(address: AddressInfo | string | null): { url: string; local?: string } {
  if (address === null || typeof address === 'string') return { url: String(address) };
  const host = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  const everywhere = address.address === '0.0.0.0' || address.address === '::';
  return everywhere ? { url, local: `http://localhost:${address.port}` } : { url };
}

/**
 * Reads the environment, boots the app with shutdown hooks and a hard-exit watchdog, and listens.
 * A bad environment exits with code 78 and a message naming each bad variable.
 */
export async function bootstrap(options: Pick<CreateAppOptions, 'imports'> = {}): Promise<NestFastifyApplication> {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfigKeepingDevSecrets(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const { config, generated, reused, secretsFile, saveError } = loaded;
  const valueOf = (name: string) => (name === 'ADMIN_API_KEY' ? config.auth.adminApiKey : config.auth.jwtSecret);
  // Development only (production requires both): printed so a developer can use the admin API.
  for (const name of generated) {
    console.log(
      secretsFile
        ? `${name} was not set; generated: ${valueOf(name)} (kept in ${secretsFile} for the next start)`
        : `${name} was not set; generated for this run: ${valueOf(name)}`,
    );
  }
  if (saveError) console.warn(`could not keep the generated secrets for the next start: ${saveError}`);
  for (const name of reused) console.log(`${name} was not set; using the one kept in ${secretsFile}`);

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
  const { url, local } = listeningUrls(app.getHttpServer().address());
  const where = local ? `${url} (on this machine: ${local})` : url;
  // A developer looks for the admin key where the app says it is ready; one logger line keeps them
  // together (a console line would land among the buffered boot logs).
  const devKey = [...generated, ...reused].includes('ADMIN_API_KEY')
    ? `; admin API key: ${config.auth.adminApiKey}`
    : '';
  new Logger('Main').log(
    `listening on ${where} (instance ${config.app.instanceId}, demo ${config.app.demoMode ? 'on' : 'off'})${devKey}`,
  );
  return app;
}
