/**
 * Small, typed readers for environment variables. Each reader records a problem naming the
 * variable instead of throwing, so one boot reports every bad variable at once.
 */
export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid environment:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  string(name: string, fallback?: string): string {
    const value = this.raw(name) ?? fallback;
    if (value === undefined) {
      this.problems.push(`${name} is required`);
      return '';
    }
    return value;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, fallback: number, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      this.problems.push(`${name} must be an integer between ${min} and ${max} (got "${value}")`);
      return fallback;
    }
    return Number(value);
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(value)) return true;
    if (['0', 'false', 'no', 'off'].includes(value)) return false;
    this.problems.push(`${name} must be true or false (got "${value}")`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${value}")`);
      return fallback;
    }
    return value as T;
  }

  url(name: string, fallback: string, protocols: string[]): string {
    const value = this.raw(name) ?? fallback;
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) throw new Error('protocol');
      return value;
    } catch {
      this.problems.push(`${name} must be a URL with protocol ${protocols.join(' or ')}`);
      return fallback;
    }
  }

  list(name: string, fallback: string[] = []): string[] {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    return value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
  }

  /** Comma-separated whole seconds, each within bounds, at least one. */
  intList(name: string, fallback: number[], min: number, max: number): number[] {
    const items = this.list(name);
    if (items.length === 0) return fallback;
    if (!items.every((item) => /^\d+$/.test(item) && Number(item) >= min && Number(item) <= max)) {
      this.problems.push(`${name} must be a comma-separated list of integers between ${min} and ${max}`);
      return fallback;
    }
    return items.map(Number);
  }

  /** `name=secret,name2=secret2` pairs. */
  pairs(name: string): Record<string, string[]> {
    const result: Record<string, string[]> = {};
    for (const item of this.list(name)) {
      const eq = item.indexOf('=');
      if (eq <= 0 || eq === item.length - 1) {
        this.problems.push(`${name} must be a comma-separated list of name=secret pairs`);
        return {};
      }
      const key = item.slice(0, eq).trim();
      (result[key] ??= []).push(item.slice(eq + 1).trim());
    }
    return result;
  }

  cidrs(name: string): string[] {
    const items = this.list(name);
    const bad = items.filter((item) => !/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(item));
    if (bad.length > 0)
      this.problems.push(`${name} must be a comma-separated list of CIDR ranges (bad: ${bad.join(', ')})`);
    return items.filter((item) => !bad.includes(item));
  }

  /** Fastify's `trustProxy`: a boolean or a comma list of addresses, CIDRs and proxy-addr names. */
  trustProxy(name: string): boolean | string {
    const raw = this.optionalString(name)?.trim();
    if (raw === undefined || raw === '' || raw === 'false') return false;
    if (raw === 'true') return true;
    const items = raw.split(',').map((item) => item.trim());
    const bad = items.filter((item) => !/^(loopback|linklocal|uniquelocal|[0-9a-fA-F:.]+(\/\d{1,3})?)$/.test(item));
    if (bad.length > 0) {
      this.problems.push(
        `${name} must be true, false, or a comma list of addresses, CIDRs, loopback, linklocal, uniquelocal (bad: ${bad.join(', ')})`,
      );
      return false;
    }
    return items.join(',');
  }
}
