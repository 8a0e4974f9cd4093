// `/account`: change password or email, sign out everywhere, delete the account.
import type { ComponentChildren } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { api } from '../api/client';
import { ApiProblem, asProblem, unwrap } from '../api/problem';
import { signOutEverywhere } from '../auth';
import { Field } from '../components/Field';
import { PageTitle, ProblemAlert, Status } from '../components/ui';
import { t } from '../i18n';
import { navigate } from '../router';
import { accessToken, flash, me } from '../session';
import { checkEmail, checkPassword, collect, focusFirstError, required, type Errors } from '../validation';

function Section({ id, title, children }: { id: string; title: string; children: ComponentChildren }) {
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

/** Shared submit plumbing: client checks, then the call; server field errors land beside fields. */
function useForm(fields: string[]) {
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const run = async (checks: Record<string, string | undefined>, action: () => Promise<string | null>) => {
    setProblem(null);
    setDone(null);
    const found = collect(checks);
    setErrors(found);
    if (Object.keys(found).length) return focusFirstError(form.current);
    setBusy(true);
    try {
      setDone(await action());
    } catch (error) {
      const p = asProblem(error);
      setErrors(p.fields);
      setProblem(p.errors.length && p.errors.every((e) => fields.includes(e.field)) ? null : p);
      focusFirstError(form.current);
    } finally {
      setBusy(false);
    }
  };
  return { errors, problem, done, busy, form, run };
}

function ChangePassword() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const f = useForm(['current_password', 'new_password']);
  return (
    <Section id="change-password" title={t('changePassword')}>
      <form
        ref={f.form}
        class="form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void f.run({ current_password: required(current), new_password: checkPassword(next) }, async () => {
            const pair = await unwrap(
              api.POST('/api/v1/users/me/password', {
                body: { current_password: current, new_password: next, cookie: true },
              }),
            );
            // Every other login is now dead; this tab carries on with the new pair.
            accessToken.value = pair.access_token ?? accessToken.value;
            setCurrent('');
            setNext('');
            return t('passwordChanged');
          });
        }}
      >
        <ProblemAlert problem={f.problem} />
        {f.done && <Status>{f.done}</Status>}
        <Field
          id="current-password"
          label={t('currentPassword')}
          type="password"
          autocomplete="current-password"
          value={current}
          onInput={(e) => setCurrent(e.currentTarget.value)}
          error={f.errors['current_password']}
        />
        <Field
          id="new-password"
          label={t('newPassword')}
          type="password"
          autocomplete="new-password"
          value={next}
          onInput={(e) => setNext(e.currentTarget.value)}
          hint={t('rulePassword')}
          error={f.errors['new_password']}
        />
        <button type="submit" disabled={f.busy}>
          {t('changePassword')}
        </button>
      </form>
    </Section>
  );
}

function ChangeEmail() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const f = useForm(['email', 'password']);
  return (
    <Section id="change-email" title={t('changeEmail')}>
      <p class="muted">{t('changeEmailHelp', { email: me.value?.email ?? '' })}</p>
      <form
        ref={f.form}
        class="form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void f.run({ email: checkEmail(email), password: required(password) }, async () => {
            await unwrap(api.POST('/api/v1/users/me/email', { body: { email: email.trim(), password } }));
            setPassword('');
            return t('emailChangeSent', { email: email.trim() });
          });
        }}
      >
        <ProblemAlert problem={f.problem} />
        {f.done && <Status>{f.done}</Status>}
        <Field
          id="change-email-address"
          label={t('newEmail')}
          type="email"
          autocomplete="email"
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
          error={f.errors['email']}
        />
        <Field
          id="change-email-password"
          label={t('password')}
          type="password"
          autocomplete="current-password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          error={f.errors['password']}
        />
        <button type="submit" disabled={f.busy}>
          {t('changeEmail')}
        </button>
      </form>
    </Section>
  );
}

function Everywhere() {
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  return (
    <Section id="sessions" title={t('sessionsTitle')}>
      <p class="muted">{t('sessionsHelp')}</p>
      <ProblemAlert problem={problem} />
      <button
        type="button"
        class="button-secondary"
        onClick={() => {
          signOutEverywhere()
            .then(() => {
              flash.value = t('signedOutEverywhere');
              navigate('/');
            })
            .catch((error: unknown) => setProblem(asProblem(error)));
        }}
      >
        {t('signOutEverywhere')}
      </button>
    </Section>
  );
}

function DeleteAccount() {
  const [password, setPassword] = useState('');
  const f = useForm(['password']);
  return (
    <Section id="delete-account" title={t('deleteAccount')}>
      <p class="muted">{t('deleteAccountHelp')}</p>
      <form
        ref={f.form}
        class="form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (password && !window.confirm(t('confirmDeleteAccount'))) return;
          void f.run({ password: required(password) }, async () => {
            await unwrap(api.DELETE('/api/v1/users/me', { body: { password } }));
            accessToken.value = null;
            me.value = null;
            flash.value = t('accountDeleted');
            navigate('/');
            return null;
          });
        }}
      >
        <ProblemAlert problem={f.problem} />
        <Field
          id="delete-password"
          label={t('password')}
          type="password"
          autocomplete="current-password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          error={f.errors['password']}
        />
        <button type="submit" class="button-danger" disabled={f.busy}>
          {t('deleteAccount')}
        </button>
      </form>
    </Section>
  );
}

function Profile() {
  const [sent, setSent] = useState<ApiProblem | string | null>(null);
  const user = me.value;
  if (!user) return null;
  return (
    <section class="card profile" aria-labelledby="profile">
      <h2 id="profile">{user.username}</h2>
      <p>
        {user.email}{' '}
        <span class={`badge ${user.email_verified ? 'badge-finished' : 'badge-queued'}`}>
          {user.email_verified ? t('verified') : t('unverified')}
        </span>
      </p>
      {!user.email_verified && (
        <p>
          <button
            type="button"
            class="button-small button-secondary"
            onClick={() => {
              unwrap(api.POST('/api/v1/auth/verify-email'))
                .then(() => setSent(t('verifyResent')))
                .catch((error: unknown) => setSent(asProblem(error)));
            }}
          >
            {t('resend')}
          </button>
        </p>
      )}
      {typeof sent === 'string' ? <Status>{sent}</Status> : <ProblemAlert problem={sent} />}
      <p class="muted">{t('roles', { roles: (user.roles ?? []).join(', ') })}</p>
    </section>
  );
}

export default function Account() {
  return (
    <>
      <PageTitle>{t('accountTitle')}</PageTitle>
      <div class="account-grid">
        <Profile />
        <ChangePassword />
        <ChangeEmail />
        <Everywhere />
        <DeleteAccount />
      </div>
    </>
  );
}
