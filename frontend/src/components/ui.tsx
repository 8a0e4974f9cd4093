// Small shared pieces: page heading, alerts, progress bar, pager, auth guard.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api/client';
import { ApiProblem, unwrap } from '../api/problem';
import { t } from '../i18n';
import { here, navigate } from '../router';
import { authReady, isAdmin, signedIn } from '../session';

/** The page's h1; focusable so navigation can move focus (and screen readers) to it. */
export function PageTitle({ children }: { children: ComponentChildren }) {
  return (
    <h1 id="page-title" tabIndex={-1}>
      {children}
    </h1>
  );
}

export function Status({ children }: { children: ComponentChildren }) {
  return (
    <p class="notice notice-ok" role="status">
      {children}
    </p>
  );
}

/** A problem from the API as a readable alert; unverified accounts get a Resend button. */
export function ProblemAlert({ problem }: { problem: ApiProblem | string | null | undefined }) {
  const [resent, setResent] = useState<string | null>(null);
  if (!problem) return null;
  const text = typeof problem === 'string' ? problem : problem.detail;
  const unverified = typeof problem !== 'string' && problem.emailNotVerified && signedIn.value;
  const resend = async () => {
    try {
      await unwrap(api.POST('/api/v1/auth/verify-email'));
      setResent(t('verifyResent'));
    } catch (error) {
      setResent(error instanceof ApiProblem ? error.detail : t('errorGeneric'));
    }
  };
  return (
    <div class="notice notice-error" role="alert">
      <p>{text}</p>
      {unverified && (
        <p>
          <button type="button" class="button-small" onClick={() => void resend()}>
            {t('resend')}
          </button>{' '}
          {resent && <span role="status">{resent}</span>}
        </p>
      )}
    </div>
  );
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const clamped = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div
      class="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={clamped}
    >
      {/* Width through the CSSOM (not a style attribute), which the strict CSP allows. */}
      <span class="progress-fill" style={{ width: `${clamped}%` }} />
    </div>
  );
}

export function Pager({ page, perPage, total, onPage }: {
  page: number;
  perPage: number;
  total: number;
  onPage: (page: number) => void;
}) {
  const pages = Math.max(1, Math.ceil(total / perPage));
  if (pages <= 1) return null;
  return (
    <nav class="pager" aria-label={t('pagination')}>
      <button type="button" class="button-secondary" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        {t('previous')}
      </button>
      <span>{t('pageOf', { page, pages })}</span>
      <button type="button" class="button-secondary" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        {t('next')}
      </button>
    </nav>
  );
}

export function Loading() {
  return (
    <p class="muted" role="status">
      {t('loading')}
    </p>
  );
}

/** Renders children only for a signed-in person (or an admin); sends others to /login. */
export function RequireAuth({ admin = false, title, children }: {
  admin?: boolean;
  title: string;
  children: ComponentChildren;
}) {
  const ready = authReady.value;
  const inside = signedIn.value;
  useEffect(() => {
    if (ready && !inside) navigate(`/login?next=${encodeURIComponent(here())}`, { replace: true });
  }, [ready, inside]);
  if (!ready || !inside || (admin && !isAdmin.value)) {
    return (
      <>
        <PageTitle>{title}</PageTitle>
        {ready && inside ? <ProblemAlert problem={t('adminsOnly')} /> : <Loading />}
      </>
    );
  }
  return <>{children}</>;
}
