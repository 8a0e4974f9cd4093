// Sign-in, sign-out and the start-up silent refresh.
import { api } from './api/client';
import { csrfToken, refreshAccess } from './api/http';
import { unwrap } from './api/problem';
import { accessToken, authReady, me } from './session';

export async function loadMe(): Promise<void> {
  me.value = await unwrap(api.GET('/api/v1/users/me'));
}

/** On start, one refresh through the cookie, so a reload keeps the person signed in. */
export async function bootAuth(): Promise<void> {
  try {
    if (csrfToken() && (await refreshAccess())) await loadMe();
  } catch {
    accessToken.value = null;
    me.value = null;
  } finally {
    authReady.value = true;
  }
}

export async function signIn(username: string, password: string): Promise<void> {
  const pair = await unwrap(api.POST('/api/v1/auth/login', { body: { username, password, cookie: true } }));
  accessToken.value = pair.access_token ?? null;
  await loadMe();
}

/** Forget the session locally even when the server cannot be reached. */
export async function signOut(): Promise<void> {
  try {
    await api.POST('/api/v1/auth/logout', { body: { refresh_token: null } });
  } finally {
    accessToken.value = null;
    me.value = null;
  }
}

export async function signOutEverywhere(): Promise<void> {
  await unwrap(api.POST('/api/v1/auth/logout-all'));
  accessToken.value = null;
  me.value = null;
}
