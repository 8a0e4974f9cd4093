// `/forgot-password`: mail a reset link (the answer is the same whether or not the address exists).
import { useRef, useState } from 'preact/hooks';
import { api } from '../api/client';
import { ApiProblem, asProblem, unwrap } from '../api/problem';
import { Field } from '../components/Field';
import { PageTitle, ProblemAlert, Status } from '../components/ui';
import { t } from '../i18n';
import { checkEmail, collect, focusFirstError, type Errors } from '../validation';

export default function ForgotPassword() {
  const [email, setEmail] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [sent, setSent] = useState(false);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    const found = collect({ email: checkEmail(email) });
    setErrors(found);
    if (Object.keys(found).length) return focusFirstError(form.current);
    setBusy(true);
    try {
      await unwrap(api.POST('/api/v1/auth/password-reset', { body: { email: email.trim() } }));
      setSent(true);
    } catch (error) {
      const p = asProblem(error);
      setErrors(p.fields);
      setProblem(p.errors.length ? null : p);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="narrow">
      <PageTitle>{t('forgotTitle')}</PageTitle>
      <form ref={form} class="card form" onSubmit={submit} noValidate>
        <p class="muted">{t('forgotIntro')}</p>
        <ProblemAlert problem={problem} />
        {sent && <Status>{t('resetSent', { email: email.trim() })}</Status>}
        <Field
          id="forgot-email"
          label={t('email')}
          type="email"
          autocomplete="email"
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
          error={errors['email']}
          required
        />
        <button type="submit" disabled={busy}>
          {t('sendResetLink')}
        </button>
      </form>
    </div>
  );
}
