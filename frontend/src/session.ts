// Who is signed in. The access token lives in memory only; the refresh token is an HttpOnly cookie.
import { computed, signal } from '@preact/signals';
import type { User } from './api/types';

export const accessToken = signal<string | null>(null);
export const me = signal<User | null>(null);
/** False until the start-up silent refresh has finished, so guards do not bounce a reload to /login. */
export const authReady = signal(false);
export const signedIn = computed(() => accessToken.value !== null);
export const isAdmin = computed(() => me.value?.roles?.includes('admin') ?? false);

/** A one-shot message for the next page (e.g. "Signed out"), shown in a live region. */
export const flash = signal<string | null>(null);
