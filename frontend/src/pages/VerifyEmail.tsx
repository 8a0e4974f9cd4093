// `/verify-email?token=…`: confirms the address on load and says how it went.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api/client';
import { ApiProblem, asProblem, unwrap } from '../api/problem';
import { loadMe } from '../auth';
import { PageTitle, ProblemAlert, Status } from '../components/ui';
import { t } from '../i18n';
import { location } from '../router';
import { signedIn } from '../session';

export default function VerifyEmail() {
  const token = location.value.query.get('token') ?? '';
  const [state, setState] = useState<'working' | 'done' | 'failed'>('working');
  const [problem, setProblem] = useState<ApiProblem | string | null>(null);
  const [resent, setResent] = useState<ApiProblem | string | null>(null);
  const started = useRef(false);

  useEffect(() => {
    // Tokens are single-use: confirm exactly once per page load.
    if (started.current) return;
    started.current = true;
    if (!token) {
      setProblem(t('verifyNoToken'));
      setState('failed');
      return;
    }
    unwrap(api.POST('/api/v1/auth/verify-email/confirm', { body: { token } }))
      .then(async () => {
        setState('done');
        if (signedIn.value) await loadMe().catch(() => undefined);
      })
      .catch((error: unknown) => {
        setProblem(asProblem(error));
        setState('failed');
      });
  }, [token]);

  const resend = async () => {
    try {
      await unwrap(api.POST('/api/v1/auth/verify-email'));
      setResent(t('verifyResent'));
    } catch (error) {
      setResent(asProblem(error));
    }
  };

  return (
    <div class="narrow">
      <PageTitle>{t('verifyTitle')}</PageTitle>
      <div class="card" aria-live="polite">
        {state === 'working' && <p role="status">{t('verifyWorking')}</p>}
        {state === 'done' && (
          <>
            <Status>{t('emailConfirmed')}</Status>
            <p>
              <a href="/">{t('backToPosts')}</a>
            </p>
          </>
        )}
        {state === 'failed' && (
          <>
            <ProblemAlert problem={problem} />
            <p>{t('verifyFailedHelp')}</p>
            {signedIn.value ? (
              <p>
                <button type="button" onClick={() => void resend()}>
                  {t('resend')}
                </button>
              </p>
            ) : (
              <p>
                <a href={`/login?next=${encodeURIComponent('/account')}`}>{t('verifySignInToResend')}</a>
              </p>
            )}
            {typeof resent === 'string' ? <Status>{resent}</Status> : <ProblemAlert problem={resent} />}
          </>
        )}
      </div>
    </div>
  );
}
