// `/register`: create an account; the API's rules are shown and checked before submit.
import { useRef, useState } from 'preact/hooks';
import { api } from '../api/client';
import { ApiProblem, asProblem, unwrap } from '../api/problem';
import { signIn } from '../auth';
import { Field } from '../components/Field';
import { PageTitle, ProblemAlert } from '../components/ui';
import { t } from '../i18n';
import { navigate } from '../router';
import { flash } from '../session';
import { checkEmail, checkPassword, checkUsername, collect, focusFirstError, type Errors } from '../validation';

export default function Register() {
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    const found = collect({
      username: checkUsername(username),
      email: checkEmail(email),
      password: checkPassword(password),
    });
    setErrors(found);
    if (Object.keys(found).length) return focusFirstError(form.current);
    setBusy(true);
    try {
      await unwrap(api.POST('/api/v1/auth/register', { body: { username, email: email.trim(), password } }));
      await signIn(username, password);
      flash.value = t('registered', { email: email.trim() });
      navigate('/');
    } catch (error) {
      const p = asProblem(error);
      setErrors(p.fields);
      // Field messages sit beside their fields; the alert carries the rest (e.g. a 409).
      setProblem(p.errors.length ? null : p);
      focusFirstError(form.current);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="narrow">
      <PageTitle>{t('registerTitle')}</PageTitle>
      <form ref={form} class="card form" onSubmit={submit} noValidate>
        <ProblemAlert problem={problem} />
        <Field
          id="reg-username"
          label={t('username')}
          autocomplete="username"
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
          hint={t('ruleUsername')}
          error={errors['username']}
          required
        />
        <Field
          id="reg-email"
          label={t('email')}
          type="email"
          autocomplete="email"
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
          error={errors['email']}
          required
        />
        <Field
          id="reg-password"
          label={t('password')}
          type="password"
          autocomplete="new-password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          hint={t('rulePassword')}
          error={errors['password']}
          required
        />
        <button type="submit" disabled={busy}>
          {t('signUp')}
        </button>
        <p class="form-links">
          <a href="/login">{t('haveAccount')}</a>
        </p>
      </form>
    </div>
  );
}
