// A small History-API router: same-origin link clicks become pushState navigations.
import { signal } from '@preact/signals';

export interface Location {
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}

export const location = signal<Location>(current());
/** Set by in-app navigations (not the first load), so the page moves focus to its heading. */
export const navigated = signal(0);

/** Paths served by Flask itself (API, job dashboard, build assets), never by the SPA. */
const SERVER_PATHS = /^\/(api|admin\/rq|assets)(\/|$)/;

export function navigate(to: string, { replace = false }: { replace?: boolean } = {}): void {
  const url = new URL(to, window.location.href);
  if (url.origin !== window.location.origin || SERVER_PATHS.test(url.pathname)) {
    window.location.assign(url.href);
    return;
  }
  const target = url.pathname + url.search + url.hash;
  if (replace) window.history.replaceState(null, '', target);
  else window.history.pushState(null, '', target);
  location.value = current();
  navigated.value += 1;
  window.scrollTo(0, 0);
}

/** The current path and query, for `?next=` after signing in. */
export function here(): string {
  return window.location.pathname + window.location.search;
}

/** A safe same-origin path from `?next=`, so a crafted link cannot send people elsewhere. */
export function safeNext(value: string | null): string {
  return value && value.startsWith('/') && !value.startsWith('//') && !value.startsWith('/\\') ? value : '/';
}

/** Match `/posts/:id/edit` style patterns; returns the parameters or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const have = (path.length > 1 ? path.replace(/\/+$/, '') : path).split('/');
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i += 1) {
    const part = want[i] ?? '';
    const value = have[i] ?? '';
    if (part.startsWith(':')) {
      if (!value) return null;
      params[part.slice(1)] = decodeURIComponent(value);
    } else if (part !== value) {
      return null;
    }
  }
  return params;
}

window.addEventListener('popstate', () => {
  location.value = current();
  navigated.value += 1;
});

document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const anchor = (event.target as Element | null)?.closest?.('a');
  if (!anchor || !anchor.href || anchor.hasAttribute('download')) return;
  if (anchor.target && anchor.target !== '_self') return;
  const url = new URL(anchor.href);
  if (url.origin !== window.location.origin || SERVER_PATHS.test(url.pathname)) return;
  // In-page anchors (the skip link) keep the browser's own behaviour.
  if (url.hash && url.pathname === window.location.pathname && url.search === window.location.search) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});
