/**
 * The deployment files agree with the app: docker-compose.yml, deploy/nginx.conf and the Dockerfile
 * are parsed and checked against the real config loader, so a renamed variable, a too-short secret,
 * a wrong host or port, or a missing proxy setting fails here instead of at `docker compose up`.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { loadConfig } from '#src/config/app-config.js';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

interface ComposeService {
  image?: string;
  profiles?: string[];
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  deploy?: { replicas?: number };
  ports?: (string | number | { target?: number; published?: string | number })[];
  volumes?: (string | { type?: string; source?: string; target?: string; read_only?: boolean })[];
  healthcheck?: { test?: string | string[] };
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/**
 * Compose interpolation as it applies with nothing set in the shell: `${VAR:-default}` and
 * `${VAR-default}` give the default, `${VAR}` and `$VAR` give '' (so a missing default shows up as
 * a missing variable), `$$` is a literal `$`.
 */
function interpolate(value: string): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, _braced: string | undefined, op: string | undefined, fallback: string | undefined) => {
      if (match === '$$') return '$';
      return op ? (fallback ?? '') : '';
    },
  );
}

function environmentOf(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  const raw = service.environment ?? {};
  const entries: [string, unknown][] = Array.isArray(raw)
    ? raw.map((item) => {
        const eq = item.indexOf('=');
        return eq < 0 ? [item, undefined] : [item.slice(0, eq), item.slice(eq + 1)];
      })
    : Object.entries(raw);
  for (const [name, value] of entries) {
    env[name] = value === undefined || value === null ? '' : interpolate(String(value));
  }
  return env;
}

function imageMajor(image: string | undefined): number {
  const tag = /:(\d+)(?:[.-]|$)/.exec(image ?? '');
  return tag ? Number(tag[1]) : NaN;
}

/** nginx.conf without comments, so a commented-out directive does not count. */
function stripComments(conf: string): string {
  return conf
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join('\n');
}

/** The body of the first `<head> { ... }` block, braces balanced. */
function block(conf: string, head: RegExp): string {
  const start = conf.search(head);
  if (start < 0) throw new Error(`no block matching ${head}`);
  const open = conf.indexOf('{', start);
  let depth = 0;
  for (let i = open; i < conf.length; i++) {
    if (conf[i] === '{') depth++;
    else if (conf[i] === '}' && --depth === 0) return conf.slice(open + 1, i);
  }
  throw new Error(`unbalanced block ${head}`);
}

/** nginx size (`26m`, `512k`, `1g`, bytes) in bytes. */
function nginxSize(value: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(value);
  if (!m) throw new Error(`bad nginx size ${value}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}

/** nginx time (`1h`, `30s`, `90`, `1m30s`) in milliseconds. */
function nginxTimeMs(value: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const parts = [...value.matchAll(/(\d+)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) throw new Error(`bad nginx time ${value}`);
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * units[unit], 0);
}

/** The single argument of a directive, asserting it occurs exactly once. */
function directive(conf: string, name: string): string {
  const found = [...conf.matchAll(new RegExp(`(?:^|[\\s;{])${name}\\s+([^;]+);`, 'g'))].map((m) => m[1].trim());
  expect(found).toHaveLength(1);
  return found[0];
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml')) as ComposeFile;
  const { services } = compose;
  const app = services.app;
  const appEnv = environmentOf(app);

  it('has postgres 17, redis 7, the app and nginx', () => {
    const always = Object.keys(services).filter((name) => !services[name].profiles);
    expect(always.sort()).toEqual(['app', 'nginx', 'postgres', 'redis', 'tls-cert']);
    expect(services.postgres.image).toMatch(/^postgres:/);
    expect(imageMajor(services.postgres.image)).toBe(17);
    expect(services.redis.image).toMatch(/^redis:/);
    expect(imageMajor(services.redis.image)).toBe(7);
    expect(services.nginx.image).toMatch(/^nginx:/);
  });

  it('gives postgres and redis a healthcheck and a named volume', () => {
    const declared = Object.keys(compose.volumes ?? {});
    for (const [name, probe] of [
      ['postgres', /pg_isready/],
      ['redis', /redis-cli\s+ping/],
    ] as const) {
      const service = services[name];
      const test = service.healthcheck?.test;
      expect([test].flat().join(' ')).toMatch(probe);
      const sources = (service.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[0] : v.source));
      expect(sources.some((source) => source !== undefined && declared.includes(source))).toBe(true);
    }
    // The postgres volume holds the data directory, not some other path.
    expect(services.postgres.volumes).toEqual(
      expect.arrayContaining([expect.stringMatching(/:\/var\/lib\/postgresql\/data$/)]),
    );
  });

  it('runs redis with AOF persistence', () => {
    expect([services.redis.command].flat().join(' ')).toContain('--appendonly yes');
  });

  it('builds the app from the Dockerfile, two replicas, after postgres and redis are healthy', () => {
    const build = typeof app.build === 'string' ? { context: app.build } : app.build;
    expect(build?.context).toBe('.');
    expect(build?.dockerfile ?? 'Dockerfile').toBe('Dockerfile');
    expect(app.deploy?.replicas).toBe(2);
    expect(app.depends_on).toEqual({
      postgres: expect.objectContaining({ condition: 'service_healthy' }),
      redis: expect.objectContaining({ condition: 'service_healthy' }),
    });
    // Two replicas cannot both bind one host port: only nginx publishes.
    expect(app.ports ?? []).toEqual([]);
  });

  it('has an app environment that the real config loader accepts, every variable read by it', () => {
    const readNames = new Set<string>();
    const tracked = new Proxy(appEnv, {
      get(target, name) {
        if (typeof name === 'string') readNames.add(name);
        return Reflect.get(target, name) as unknown;
      },
    });

    let loaded: ReturnType<typeof loadConfig> | undefined;
    expect(() => {
      loaded = loadConfig(tracked);
    }).not.toThrow();
    const { config, generated } = loaded!;

    // A misspelt name (REDIS_URI) would be silently ignored by the loader: catch it here.
    expect(Object.keys(appEnv).filter((name) => !readNames.has(name))).toEqual([]);
    expect(appEnv.NODE_ENV).toBe('production');
    expect(config.app.production).toBe(true);
    expect(generated).toEqual([]);
    expect(config.auth.adminApiKey).toBe(appEnv.ADMIN_API_KEY);
    expect(config.auth.jwtSecret).toBe(appEnv.JWT_SECRET);
    expect(config.app.demoMode).toBe(true);
    expect(config.app.port).toBe(3000);
    // nginx forwards from the compose network: its X-Forwarded-For names the client for rate limits.
    expect(config.app.trustProxy).toBe('uniquelocal');
  });

  it('points DATABASE_URL and REDIS_URL at the compose services', () => {
    const db = new URL(appEnv.DATABASE_URL);
    expect(db.protocol).toMatch(/^postgres(ql)?:$/);
    expect(db.hostname).toBe('postgres');
    expect(db.hostname in services).toBe(true);
    expect(Number(db.port || 5432)).toBe(5432);

    const pg = environmentOf(services.postgres);
    expect(decodeURIComponent(db.username)).toBe(pg.POSTGRES_USER || 'postgres');
    if (pg.POSTGRES_PASSWORD) expect(decodeURIComponent(db.password)).toBe(pg.POSTGRES_PASSWORD);
    else expect(pg.POSTGRES_HOST_AUTH_METHOD).toBe('trust');
    expect(db.pathname.slice(1)).toBe(pg.POSTGRES_DB || pg.POSTGRES_USER || 'postgres');

    const redis = new URL(appEnv.REDIS_URL);
    expect(redis.hostname).toBe('redis');
    expect(redis.hostname in services).toBe(true);
    expect(Number(redis.port || 6379)).toBe(6379);
  });

  it('has a sentinel profile: a replica of redis and a sentinel monitoring it, that REDIS_SENTINELS can name', () => {
    const inProfile = Object.keys(services).filter((name) => services[name].profiles?.includes('sentinel'));
    expect(inProfile.sort()).toEqual(['redis-replica', 'redis-sentinel']);
    expect([services['redis-replica'].command].flat().join(' ')).toContain('--replicaof redis 6379');
    const sentinel = [services['redis-sentinel'].command].flat().join(' ');
    expect(sentinel).toContain('sentinel monitor mymaster redis 6379 1');
    expect(sentinel).toMatch(/--sentinel --port 26379$/);
    // Unset, the app stays on REDIS_URL; set as the compose comment says, the loader takes it.
    expect(appEnv.REDIS_SENTINELS).toBe('');
    const { config } = loadConfig({ ...appEnv, REDIS_SENTINELS: 'redis-sentinel:26379' });
    expect(config.redis.sentinels).toEqual([{ host: 'redis-sentinel', port: 26379 }]);
    expect(config.redis.sentinelName).toBe('mymaster');
  });

  it('has a cluster profile: three cluster-enabled masters and a one-shot init that forms them, that REDIS_CLUSTER_NODES can name', () => {
    const inProfile = Object.keys(services).filter((name) => services[name].profiles?.includes('cluster'));
    expect(inProfile.sort()).toEqual(['redis-cluster-init', 'redis-node-1', 'redis-node-2', 'redis-node-3']);
    for (const node of ['redis-node-1', 'redis-node-2', 'redis-node-3']) {
      expect([services[node].command].flat().join(' ')).toContain('--cluster-enabled yes');
    }
    const init = [services['redis-cluster-init'].command].flat().join(' ');
    expect(init).toContain('--cluster create');
    expect(init).toContain('--cluster-replicas 0 --cluster-yes');
    for (const node of ['redis-node-1', 'redis-node-2', 'redis-node-3']) expect(init).toContain(node);
    // Unset, the app stays on REDIS_URL; set as the compose comment says, the loader takes it.
    expect(appEnv.REDIS_CLUSTER_NODES).toBe('');
    const nodes = 'redis-node-1:6379,redis-node-2:6379,redis-node-3:6379';
    const { config } = loadConfig({ ...appEnv, REDIS_CLUSTER_NODES: nodes, FEED_SHARDS: '3' });
    expect(config.redis.clusterNodes).toEqual([1, 2, 3].map((n) => ({ host: `redis-node-${n}`, port: 6379 })));
    expect(config.realtime.feedShards).toBe(3);
  });

  it('has an observability profile: Prometheus scraping every app replica, Grafana provisioned with deploy/grafana', () => {
    const inProfile = Object.keys(services).filter((name) => services[name].profiles?.includes('observability'));
    expect(inProfile.sort()).toEqual(['grafana', 'prometheus']);
    expect(services.prometheus.volumes).toContain('./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    const prometheus = parse(read('deploy/prometheus.yml')) as {
      scrape_configs: { metrics_path: string; dns_sd_configs: { names: string[]; port: number }[] }[];
    };
    const [scrape] = prometheus.scrape_configs;
    expect(scrape.metrics_path).toBe('/metrics');
    // The service name resolves to every replica; the port is the one the app listens on.
    expect(scrape.dns_sd_configs[0].names).toEqual(['app']);
    expect(String(scrape.dns_sd_configs[0].port)).toBe(String(environmentOf(services.app).PORT));
    expect(services.grafana.volumes).toEqual([
      './deploy/grafana/provisioning:/etc/grafana/provisioning:ro',
      './deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro',
    ]);
    const datasources = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: { uid: string; url: string }[];
    };
    expect(new URL(datasources.datasources[0].url).hostname).toBe('prometheus');
    const providers = parse(read('deploy/grafana/provisioning/dashboards/livefeed.yml')) as {
      providers: { options: { path: string } }[];
    };
    expect(providers.providers[0].options.path).toBe('/var/lib/grafana/dashboards');
    // Every panel queries the provisioned datasource.
    const dashboard = JSON.parse(read('deploy/grafana/dashboards/livefeed.json')) as {
      panels: { type: string; datasource?: { uid: string } }[];
    };
    const uids = new Set(dashboard.panels.filter((p) => p.type !== 'row').map((p) => p.datasource?.uid));
    expect([...uids]).toEqual([datasources.datasources[0].uid]);
  });

  it('rejects the same environment without ADMIN_API_KEY (production requires it)', () => {
    const { ADMIN_API_KEY: _omitted, ...withoutKey } = appEnv;
    expect(() => loadConfig(withoutKey)).toThrow(/ADMIN_API_KEY/);
    expect(() => loadConfig({ ...appEnv, JWT_SECRET: 'too-short' })).toThrow(/JWT_SECRET/);
  });

  it('makes a self-signed certificate once into a volume that nginx mounts, before nginx starts', () => {
    const cert = services['tls-cert'];
    const script = [cert.command].flat().join(' ');
    expect(script).toContain('openssl req -x509');
    expect(script).toContain('-keyout /certs/key.pem -out /certs/cert.pem');
    expect(script).toMatch(/^\[ -s \/certs\/cert\.pem \] \|\|/); // once: kept across restarts
    expect(cert.volumes).toEqual(['tls-certs:/certs']);
    expect(services.nginx.volumes).toContain('tls-certs:/etc/nginx/certs:ro');
    expect((services.nginx.depends_on as Record<string, any>)['tls-cert']).toEqual({
      condition: 'service_completed_successfully',
    });
  });

  it('publishes nginx on 8080 (HTTP) and 8443 (HTTPS, HTTP/2) with deploy/nginx.conf mounted read-only, after the app', () => {
    const nginx = services.nginx;
    expect(nginx.ports).toEqual(['8080:80', '8443:443']);
    expect(nginx.volumes).toEqual(expect.arrayContaining([expect.stringMatching(/^\.\/deploy\/nginx\.conf:.+:ro$/)]));
    const dependsOn = Array.isArray(nginx.depends_on) ? nginx.depends_on : Object.keys(nginx.depends_on ?? {});
    expect(dependsOn).toContain('app');
  });
});

describe('deploy/nginx.conf', () => {
  const conf = stripComments(read('deploy/nginx.conf'));
  const appEnv = environmentOf((parse(read('docker-compose.yml')) as ComposeFile).services.app);
  // Loaded inside each test: a bad compose environment fails the compose tests above, not this suite.
  const appConfig = () => loadConfig(appEnv).config;

  it('is a whole nginx.conf with events and http blocks', () => {
    expect(() => block(conf, /(^|\s)events\s*\{/)).not.toThrow();
    expect(() => block(conf, /(^|\s)http\s*\{/)).not.toThrow();
  });

  it('terminates TLS with HTTP/2 on 443 with the mounted certificate, and keeps HTTP on 80', () => {
    const server = block(conf, /server\s*\{/);
    expect(server).toMatch(/(^|\s)listen\s+80\s*;/);
    expect(server).toMatch(/(^|\s)listen\s+443\s+ssl\s*;/);
    expect(directive(server, 'http2')).toBe('on');
    expect(directive(server, 'ssl_certificate')).toBe('/etc/nginx/certs/cert.pem');
    expect(directive(server, 'ssl_certificate_key')).toBe('/etc/nginx/certs/key.pem');
  });

  it('balances over the app service with ip_hash, on the port the app listens on', () => {
    const config = appConfig();
    const upstream = block(conf, /upstream\s+app\s*\{/);
    expect(upstream).toMatch(/(^|\s)ip_hash\s*;/);
    const servers = [...upstream.matchAll(/(?:^|\s)server\s+([^\s:;]+):(\d+)/g)];
    expect(servers.length).toBeGreaterThan(0);
    for (const [, host, port] of servers) {
      expect(host).toBe('app');
      expect(Number(port)).toBe(config.app.port);
      expect(Number(port)).toBe(Number(appEnv.PORT));
    }
  });

  it('proxies / to the app with websocket upgrade, no buffering, long timeouts', () => {
    const config = appConfig();
    const location = block(conf, /location\s+\/\s*\{/);
    expect(location).toMatch(/proxy_pass\s+http:\/\/app\s*;/);
    expect(directive(location, 'proxy_http_version')).toBe('1.1');
    expect(location).toMatch(/proxy_set_header\s+Upgrade\s+\$http_upgrade\s*;/);
    expect(location).toMatch(/proxy_set_header\s+Connection\s+\$connection_upgrade\s*;/);
    expect(conf).toMatch(/map\s+\$http_upgrade\s+\$connection_upgrade\s*\{/);
    expect(directive(location, 'proxy_buffering')).toBe('off');
    expect(directive(location, 'proxy_cache')).toBe('off');
    expect(location).toMatch(/proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for\s*;/);
    expect(location).toMatch(/proxy_set_header\s+X-Forwarded-Proto\s+\$scheme\s*;/);
    expect(location).toMatch(/proxy_set_header\s+X-Request-Id\s+\$\S+\s*;/);
    // SSE heartbeats and long polls must fit well inside the read timeout.
    const readTimeout = nginxTimeMs(directive(location, 'proxy_read_timeout'));
    expect(readTimeout).toBeGreaterThanOrEqual(3_600_000);
    expect(readTimeout).toBeGreaterThan(config.realtime.longPollMaxMs);
    expect(readTimeout).toBeGreaterThan(config.realtime.sseHeartbeatMs);
  });

  it('accepts bodies as large as the biggest webhook the app accepts', () => {
    const config = appConfig();
    const limit = nginxSize(directive(conf, 'client_max_body_size'));
    expect(limit).toBeGreaterThanOrEqual(config.inbound.githubBodyLimitBytes);
    expect(limit).toBeGreaterThanOrEqual(config.inbound.stripeBodyLimitBytes);
  });
});

describe('Dockerfile', () => {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const instructions = (name: string) =>
    lines.filter((line) => line.toUpperCase().startsWith(`${name} `)).map((line) => line.slice(name.length + 1).trim());

  it('is a multi-stage build whose runtime stage copies dist from the build stage', () => {
    const stages = instructions('FROM');
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const named = stages.map((from) => /\s+AS\s+(\S+)$/i.exec(from)?.[1]).filter(Boolean);
    expect(named.length).toBeGreaterThanOrEqual(1);
    const copiedFrom = instructions('COPY')
      .map((copy) => /--from=(\S+)/.exec(copy)?.[1])
      .filter(Boolean);
    expect(copiedFrom.some((stage) => named.includes(stage))).toBe(true);
    expect(lines.some((line) => /^RUN .*npm ci(?!.*--omit=dev)/.test(line))).toBe(true);
    expect(lines.some((line) => /^RUN .*npm run build/.test(line))).toBe(true);
    expect(lines.some((line) => /^RUN .*npm ci .*--omit=dev/.test(line))).toBe(true);
  });

  it('gives the build stage everything `npm run build` reads, and ships the built dashboard', () => {
    const build = read('package.json');
    const scripts = (JSON.parse(build) as { scripts: Record<string, string> }).scripts;
    const first = lines.findIndex((line) => /^FROM /i.test(line));
    const buildStage = lines.slice(
      first,
      lines.findIndex((line, i) => i > first && /^FROM /i.test(line)),
    );
    const copied = buildStage.filter((line) => /^COPY /i.test(line)).join(' ');
    // tsc builds the SDK (packages/client, a project reference) and then src/; the web bundle
    // (web/build.mjs) reads web/ and the SDK's source and writes public/dist.
    expect(scripts.build).toMatch(/tsc -b tsconfig\.build\.json/);
    for (const needed of ['tsconfig.build.json', 'src', 'packages', 'web', 'public']) expect(copied).toContain(needed);
    const runtimeCopies = instructions('COPY').filter((copy) => /public/.test(copy));
    expect(runtimeCopies.some((copy) => /--from=\S+ \/app\/public/.test(copy))).toBe(true);
  });

  it('runs as a non-root user, in production mode, on the compose PORT, with a liveness healthcheck', () => {
    const users = instructions('USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1].split(':')[0];
    expect(['root', '0']).not.toContain(user);

    expect(instructions('ENV').join(' ')).toMatch(/(^|\s)NODE_ENV=production(\s|$)/);
    expect(instructions('EXPOSE')).toContain('3000');
    expect(instructions('HEALTHCHECK').join(' ')).toMatch(/fetch\(.*\/health\/live/);
    expect(JSON.parse(instructions('CMD').at(-1) ?? 'null')).toEqual([
      'node',
      '--max-semi-space-size=16',
      '--import',
      './dist/otel.js',
      'dist/main.js',
    ]);
  });

  it('starts the app with the same command as `npm run start:prod` and `npm start` (the benchmarks read it)', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    const cmd = (JSON.parse(instructions('CMD').at(-1) ?? '[]') as string[]).join(' ');
    expect(scripts['start:prod']).toBe(cmd);
    expect(scripts.start.endsWith(` ${cmd}`)).toBe(true);
  });
});

describe('.dockerignore', () => {
  it('keeps local builds, dependencies and results out of the build context', () => {
    const entries = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim().replace(/^\/|\/$/g, ''));
    for (const entry of ['node_modules', 'dist', '.git', 'test-results', 'bench/results', 'coverage']) {
      expect(entries).toContain(entry);
    }
  });
});
