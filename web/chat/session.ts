/**
 * Demo sign-in (`POST /auth/demo`, demo mode only) and what the page remembers: the session per tab
 * (sessionStorage, so two tabs can be two people) and the user names it has learned (localStorage;
 * the chat API gives member ids only).
 */
import { getJson, postJson } from '../../packages/client/src/index.js';

export interface User {
  id: string;
  name: string;
}

export interface Session {
  token: string;
  user: User;
}

const SESSION_KEY = 'livefeed.session';
const NAMES_KEY = 'livefeed.names';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function signIn(name: string): Promise<Session> {
  const { token, user } = await postJson<{ token: string; user: User }>('/auth/demo', { name });
  const session = { token, user: { id: user.id, name: user.name } };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  rememberName(session.user);
  return session;
}

/** The stored session if its token still works. */
export async function restoreSession(): Promise<Session | undefined> {
  const raw = sessionStorage.getItem(SESSION_KEY);
  if (!raw) return undefined;
  try {
    const session = JSON.parse(raw) as Session;
    await getJson('/auth/me', { headers: { authorization: `Bearer ${session.token}` } });
    return session;
  } catch {
    sessionStorage.removeItem(SESSION_KEY);
    return undefined;
  }
}

export function signOut(): void {
  sessionStorage.removeItem(SESSION_KEY);
}

/**
 * A user id for "chat with": an id as is; a name through demo sign-in, which answers with the oldest
 * user of that name (creating one if there is none, so you can write to someone before their first
 * visit). The token it returns is dropped.
 */
export async function resolveUser(nameOrId: string): Promise<User> {
  const text = nameOrId.trim();
  if (UUID.test(text)) return { id: text.toLowerCase(), name: nameOf(text.toLowerCase()) };
  const { user } = await postJson<{ user: User }>('/auth/demo', { name: text });
  rememberName(user);
  return { id: user.id, name: user.name };
}

let names: Record<string, string> | undefined;

function loadNames(): Record<string, string> {
  if (!names) {
    try {
      names = JSON.parse(localStorage.getItem(NAMES_KEY) ?? '{}') as Record<string, string>;
    } catch {
      names = {};
    }
  }
  return names;
}

export function rememberName(user: User): void {
  const all = loadNames();
  if (all[user.id] === user.name) return;
  all[user.id] = user.name;
  localStorage.setItem(NAMES_KEY, JSON.stringify(all));
}

/** A known name, else the id's first block ("user 3fa85f64"). */
export function nameOf(userId: string | null, hint?: string): string {
  if (userId === null) return 'system';
  return hint ?? loadNames()[userId] ?? `user ${userId.slice(0, 8)}`;
}
