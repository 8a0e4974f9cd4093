import './styles.css';
import { t } from './i18n';

const HEALTH_URL = '/healthz';
const TIMEOUT_MS = 5000;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string>> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

async function apiIsUp(): Promise<boolean> {
  const controller = new AbortController();
  const timer = window.setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const res = await fetch(HEALTH_URL, {
      headers: { Accept: 'application/json' },
      cache: 'no-store',
      signal: controller.signal,
    });
    if (!res.ok) return false;
    const body: unknown = await res.json();
    return typeof body === 'object' && body !== null && (body as { status?: unknown }).status === 'ok';
  } catch {
    return false;
  } finally {
    window.clearTimeout(timer);
  }
}

function render(root: HTMLElement): HTMLElement {
  const status = el('p', { id: 'api-status', class: 'status', role: 'status', 'aria-live': 'polite' }, t.apiChecking);
  root.replaceChildren(
    el('header', { class: 'site-header' }, el('h1', {}, t.appName)),
    el(
      'main',
      { class: 'content' },
      el('p', {}, t.tagline),
      el(
        'nav',
        { 'aria-label': t.linksHeading },
        el(
          'ul',
          { class: 'links' },
          el('li', {}, el('a', { href: '/api/docs' }, t.apiDocs)),
          el('li', {}, el('a', { href: HEALTH_URL }, t.healthCheck)),
        ),
      ),
      status,
    ),
  );
  return status;
}

async function main(): Promise<void> {
  document.title = t.appName;
  const root = document.getElementById('app') ?? document.body;
  const status = render(root);
  const up = await apiIsUp();
  status.textContent = up ? t.apiOk : t.apiUnreachable;
  status.dataset['state'] = up ? 'ok' : 'down';
}

void main();
