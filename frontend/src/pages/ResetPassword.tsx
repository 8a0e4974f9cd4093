// `/reset-password?token=…`: set a new password with the mailed token.
import { useRef, useState } from 'preact/hooks';
import { api } from '../api/client';
import { ApiProblem, asProblem, unwrap } from '../api/problem';
import { Field } from '../components/Field';
import { PageTitle, ProblemAlert, Status } from '../components/ui';
import { t } from '../i18n';
import { location } from '../router';
import { checkPassword, collect, focusFirstError, type Errors } from '../validation';

export default function ResetPassword() {
  const token = location.value.query.get('token') ?? '';
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<ApiProblem | string | null>(token ? null : t('resetNoToken'));
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    const found = collect({ password: checkPassword(password) });
    setErrors(found);
    if (Object.keys(found).length) return focusFirstError(form.current);
    setBusy(true);
    try {
      await unwrap(api.POST('/api/v1/auth/password-reset/confirm', { body: { token, password } }));
      setDone(true);
    } catch (error) {
      const p = asProblem(error);
      setErrors(p.fields);
      setProblem(p.errors.filter((e) => e.field !== 'password').length || !p.errors.length ? p : null);
    } finally {
      setBusy(false);
    }
  };

  if (done) {
    return (
      <div class="narrow">
        <PageTitle>{t('resetTitle')}</PageTitle>
        <div class="card">
          <Status>{t('resetDone')}</Status>
          <p>
            <a class="button" href="/login">
              {t('goToSignIn')}
            </a>
          </p>
        </div>
      </div>
    );
  }
  return (
    <div class="narrow">
      <PageTitle>{t('resetTitle')}</PageTitle>
      <form ref={form} class="card form" onSubmit={submit} noValidate>
        <ProblemAlert problem={problem} />
        {problem && (
          <p>
            <a href="/forgot-password">{t('resetRequestNew')}</a>
          </p>
        )}
        <Field
          id="reset-password"
          label={t('newPassword')}
          type="password"
          autocomplete="new-password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          hint={t('rulePassword')}
          error={errors['password']}
          required
        />
        <button type="submit" disabled={busy || !token}>
          {t('setPassword')}
        </button>
      </form>
    </div>
  );
}
