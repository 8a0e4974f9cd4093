// The one fetch every API call goes through: bearer token, Accept-Language, one silent refresh on 401.
import { lang } from '../i18n';
import { here, navigate } from '../router';
import { accessToken, me } from '../session';

const REFRESH_URL = '/api/v1/auth/refresh';
const CSRF_COOKIE = 'csrf_refresh_token';

export function csrfToken(): string | null {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join('='));
  }
  return null;
}

/** Headers every API request carries. */
export function baseHeaders(headers: HeadersInit = {}): Headers {
  const out = new Headers(headers);
  out.set('Accept-Language', lang.value);
  if (!out.has('Accept')) out.set('Accept', 'application/json');
  return out;
}

let refreshing: Promise<string | null> | null = null;

/** Trade the refresh cookie for a new access token; concurrent callers share one request. */
export function refreshAccess(): Promise<string | null> {
  if (!refreshing) {
    refreshing = (async () => {
      const csrf = csrfToken();
      if (!csrf) return null;
      try {
        const headers = baseHeaders({ 'X-CSRF-TOKEN': csrf });
        const res = await fetch(REFRESH_URL, { method: 'POST', headers, credentials: 'same-origin' });
        if (!res.ok) return null;
        const body = (await res.json()) as { access_token?: string };
        return body.access_token ?? null;
      } catch {
        return null;
      }
    })().then((token) => {
      accessToken.value = token;
      refreshing = null;
      return token;
    });
  }
  return refreshing;
}

/** The signed-in session is gone for good: forget it and ask the person to sign in again. */
export function sessionLost(): void {
  accessToken.value = null;
  me.value = null;
  if (!window.location.pathname.startsWith('/login')) {
    navigate(`/login?next=${encodeURIComponent(here())}`, { replace: true });
  }
}

function withAuth(request: Request, token: string | null): Request {
  const headers = baseHeaders(request.headers);
  if (token && !request.headers.has('Authorization')) headers.set('Authorization', `Bearer ${token}`);
  return new Request(request, { headers });
}

/** fetch() for the API. A 401 on an authenticated request refreshes once and retries once. */
export async function apiFetch(request: Request): Promise<Response> {
  const token = accessToken.value;
  const spare = token ? request.clone() : null;
  const response = await fetch(withAuth(request, token));
  if (response.status !== 401 || !spare) return response;
  const fresh = await refreshAccess();
  if (!fresh) {
    sessionLost();
    return response;
  }
  const retried = await fetch(withAuth(spare, fresh));
  if (retried.status === 401) sessionLost();
  return retried;
}
