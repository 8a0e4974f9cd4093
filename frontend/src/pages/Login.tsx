// `/login`: sign in with username or email, then return to the page that asked.
import { useRef, useState } from 'preact/hooks';
import { ApiProblem, asProblem } from '../api/problem';
import { signIn } from '../auth';
import { Field } from '../components/Field';
import { PageTitle, ProblemAlert } from '../components/ui';
import { t } from '../i18n';
import { location, navigate, safeNext } from '../router';
import { collect, focusFirstError, required, type Errors } from '../validation';

export default function Login() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const next = safeNext(location.value.query.get('next'));

  const submit = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    const found = collect({ username: required(username), password: required(password) });
    setErrors(found);
    if (Object.keys(found).length) return focusFirstError(form.current);
    setBusy(true);
    try {
      await signIn(username.trim(), password);
      navigate(next, { replace: true });
    } catch (error) {
      const p = asProblem(error);
      setErrors(p.fields);
      setProblem(p.errors.length ? null : p);
      setBusy(false);
    }
  };

  return (
    <div class="narrow">
      <PageTitle>{t('loginTitle')}</PageTitle>
      <form ref={form} class="card form" onSubmit={submit} noValidate>
        <ProblemAlert problem={problem} />
        <Field
          id="login-username"
          label={t('usernameOrEmail')}
          autocomplete="username"
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
          error={errors['username']}
          required
        />
        <Field
          id="login-password"
          label={t('password')}
          type="password"
          autocomplete="current-password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          error={errors['password']}
          required
        />
        <button type="submit" disabled={busy}>
          {t('signIn')}
        </button>
        <p class="form-links">
          <a href="/forgot-password">{t('forgotPassword')}</a>
          <a href="/register">{t('createAccount')}</a>
        </p>
      </form>
    </div>
  );
}
