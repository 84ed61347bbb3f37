/**
 * The console's only way to the server: the admin API with `Authorization: Bearer <admin key>`.
 * The key lives in this tab's sessionStorage (never in a URL, gone when the tab closes). A 401 on
 * any call signs out: the key is dropped and `onSignedOut` tells the page why.
 */
import { ApiError, getJson } from '../../packages/client/src/index.js';

const STORAGE_KEY = 'console.adminKey';

let signedOut: (message: string) => void = () => undefined;

export const session = {
  key: (): string | null => sessionStorage.getItem(STORAGE_KEY),
  store: (key: string): void => sessionStorage.setItem(STORAGE_KEY, key),
  clear: (): void => sessionStorage.removeItem(STORAGE_KEY),
  onSignedOut(handler: (message: string) => void): void {
    signedOut = handler;
  },
};

/** A call with an explicit key, for the sign-in check (nothing is stored before it passes). */
export function withKey<T>(key: string, path: string, init: RequestInit = {}): Promise<T> {
  return getJson<T>(path, { ...init, headers: { authorization: `Bearer ${key}`, ...init.headers } });
}

export async function admin<T>(path: string, init: RequestInit = {}): Promise<T> {
  const key = session.key();
  if (!key) throw new ApiError(401, 'not signed in');
  try {
    return await withKey<T>(key, path, init);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && session.key() === key) {
      session.clear();
      signedOut(`Signed out: the server refused the admin key (${error.message}).`);
    }
    throw error;
  }
}

/** POST, PATCH, PUT with an optional JSON body. */
export function send<T>(method: string, path: string, body?: unknown): Promise<T> {
  return admin<T>(path, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
}

/** `?a=1&b=x`, leaving out empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
