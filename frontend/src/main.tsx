// Entry point: the app shell (header, routes, focus on navigation) and the start-up sign-in.
import './styles.css';
import { render, type JSX } from 'preact';
import { useEffect } from 'preact/hooks';
import { bootAuth, signOut } from './auth';
import { PageTitle } from './components/ui';
import { LANGUAGES, lang, setLang, t, type MessageKey } from './i18n';
import { location, match, navigate, navigated } from './router';
import { authReady, flash, isAdmin, me, signedIn } from './session';
import { theme, toggleTheme } from './theme';
import { RequireAuth } from './components/ui';
import Account from './pages/Account';
import AdminUsers from './pages/AdminUsers';
import DevMail from './pages/DevMail';
import ForgotPassword from './pages/ForgotPassword';
import Home from './pages/Home';
import Jobs from './pages/Jobs';
import Login from './pages/Login';
import PostEdit from './pages/PostEdit';
import PostView from './pages/PostView';
import Register from './pages/Register';
import ResetPassword from './pages/ResetPassword';
import VerifyEmail from './pages/VerifyEmail';

interface Route {
  pattern: string;
  title: MessageKey;
  view: (params: Record<string, string>) => JSX.Element;
  auth?: 'user' | 'admin';
}

const ROUTES: Route[] = [
  { pattern: '/', title: 'postsTitle', view: () => <Home /> },
  { pattern: '/register', title: 'registerTitle', view: () => <Register /> },
  { pattern: '/login', title: 'loginTitle', view: () => <Login /> },
  { pattern: '/verify-email', title: 'verifyTitle', view: () => <VerifyEmail /> },
  { pattern: '/forgot-password', title: 'forgotTitle', view: () => <ForgotPassword /> },
  { pattern: '/reset-password', title: 'resetTitle', view: () => <ResetPassword /> },
  { pattern: '/posts/new', title: 'newPostTitle', view: () => <PostEdit />, auth: 'user' },
  { pattern: '/posts/:id', title: 'postTitle', view: (p) => <PostView id={p['id'] ?? ''} /> },
  { pattern: '/posts/:id/edit', title: 'editPostTitle', view: (p) => <PostEdit id={p['id'] ?? ''} />, auth: 'user' },
  { pattern: '/jobs', title: 'jobsTitle', view: () => <Jobs />, auth: 'user' },
  { pattern: '/admin/users', title: 'usersTitle', view: () => <AdminUsers />, auth: 'admin' },
  { pattern: '/account', title: 'accountTitle', view: () => <Account />, auth: 'user' },
  { pattern: '/dev/mail', title: 'devMailTitle', view: () => <DevMail /> },
];

function NotFound() {
  return (
    <>
      <PageTitle>{t('notFoundTitle')}</PageTitle>
      <p>{t('notFoundText')}</p>
      <p>
        <a href="/">{t('backToPosts')}</a>
      </p>
    </>
  );
}

/** Post ids are UUIDs: any other `:id` is no page of ours (rather than the API's 404 text). */
const ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function resolve(path: string): { route: Route | null; params: Record<string, string> } {
  for (const route of ROUTES) {
    const params = match(route.pattern, path);
    if (params && (params['id'] === undefined || ID_PATTERN.test(params['id']))) return { route, params };
  }
  return { route: null, params: {} };
}

function Header() {
  const path = location.value.path;
  const current = (href: string) => (path === href ? 'page' : undefined);
  return (
    <header class="site-header">
      <div class="bar">
        <a class="brand" href="/">
          {t('appName')}
        </a>
        <nav aria-label={t('mainNav')} class="nav">
          {signedIn.value && (
            <>
              <a href="/jobs" aria-current={current('/jobs')}>
                {t('navJobs')}
              </a>
              {isAdmin.value && (
                <a href="/admin/users" aria-current={current('/admin/users')}>
                  {t('navUsers')}
                </a>
              )}
              <a href="/account" aria-current={current('/account')}>
                {me.value?.username ?? t('navAccount')}
              </a>
            </>
          )}
        </nav>
        <div class="tools">
          <label class="lang">
            <span class="visually-hidden">{t('language')}</span>
            <select value={lang.value} onChange={(e) => setLang(e.currentTarget.value)}>
              {Object.entries(LANGUAGES).map(([code, name]) => (
                <option key={code} value={code} lang={code}>
                  {name}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            class="icon-button"
            aria-pressed={theme.value === 'dark'}
            title={t('darkMode')}
            onClick={toggleTheme}
          >
            <span aria-hidden="true">{theme.value === 'dark' ? '☀' : '☾'}</span>
            <span class="visually-hidden">{t('darkMode')}</span>
          </button>
          {authReady.value &&
            (signedIn.value ? (
              <button
                type="button"
                class="button-secondary"
                onClick={() => {
                  void signOut().finally(() => {
                    flash.value = t('signedOut');
                    navigate('/');
                  });
                }}
              >
                {t('signOut')}
              </button>
            ) : (
              path !== '/login' && (
                <a class="button" href={`/login${path !== '/' ? `?next=${encodeURIComponent(path)}` : ''}`}>
                  {t('signIn')}
                </a>
              )
            ))}
        </div>
      </div>
    </header>
  );
}

function Flash() {
  // A polite live region that always exists, so screen readers announce what lands in it.
  return (
    <div class="flash" role="status" aria-live="polite">
      {flash.value && <p class="notice notice-ok">{flash.value}</p>}
    </div>
  );
}

function App() {
  const { path } = location.value;
  const { route, params } = resolve(path);
  const count = navigated.value;

  useEffect(() => {
    document.title = route ? `${t(route.title)} · ${t('appName')}` : t('appName');
  }, [route, lang.value]);

  useEffect(() => {
    if (count === 0) return;
    // Move focus to the new page's heading, as a full page load would move the reader's cursor.
    document.getElementById('page-title')?.focus();
    // A message set for this page stays until the next navigation or for a while, not longer.
    const shown = flash.value;
    const clear = () => {
      if (flash.value === shown) flash.value = null;
    };
    const timer = window.setTimeout(clear, 10000);
    return () => {
      window.clearTimeout(timer);
      clear();
    };
  }, [count]);

  const page = route ? route.view(params) : <NotFound />;
  return (
    <>
      <a class="skip" href="#main">
        {t('skipToContent')}
      </a>
      <Header />
      <main id="main" class="content">
        <Flash />
        {route?.auth ? (
          <RequireAuth admin={route.auth === 'admin'} title={t(route.title)}>
            {page}
          </RequireAuth>
        ) : page}
      </main>
      <footer class="site-footer">
        <a href="/api/docs">{t('apiDocs')}</a>
      </footer>
    </>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
void bootAuth();
