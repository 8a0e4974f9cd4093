// `/dev/mail` (development only): every mail the app sent, newest first, links clickable.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api/client';
import { ApiProblem, asProblem, unwrap } from '../api/problem';
import type { DevMail as Mail } from '../api/types';
import { Loading, PageTitle, ProblemAlert } from '../components/ui';
import { formatDate, t } from '../i18n';

const URL_PATTERN = /(https?:\/\/[^\s<>"]+|\/[a-z-]+\?token=[^\s<>"]+)/g;

/** Same-origin links become in-app paths, so the router opens them without a reload. */
function localHref(raw: string): string {
  try {
    const url = new URL(raw, window.location.origin);
    return url.origin === window.location.origin ? url.pathname + url.search + url.hash : url.href;
  } catch {
    return raw;
  }
}

function linkify(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  let last = 0;
  for (const found of text.matchAll(URL_PATTERN)) {
    const start = found.index ?? 0;
    out.push(text.slice(last, start));
    out.push(
      <a key={start} href={localHref(found[0])}>
        {found[0]}
      </a>,
    );
    last = start + found[0].length;
  }
  out.push(text.slice(last));
  return out;
}

export default function DevMail() {
  const [mails, setMails] = useState<Mail[] | null>(null);
  const [problem, setProblem] = useState<ApiProblem | string | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let live = true;
    unwrap(api.GET('/api/v1/dev/mail'))
      .then((data) => {
        if (!live) return;
        setProblem(null);
        setMails((data.items ?? []) as Mail[]);
      })
      .catch((error: unknown) => {
        if (!live) return;
        const p = asProblem(error);
        setProblem(p.status === 404 ? t('devMailUnavailable') : p);
        setMails([]);
      });
    return () => {
      live = false;
    };
  }, [tick]);

  return (
    <>
      <div class="page-head">
        <PageTitle>{t('devMailTitle')}</PageTitle>
        <button type="button" class="button-secondary" onClick={() => setTick((n) => n + 1)}>
          {t('refresh')}
        </button>
      </div>
      <ProblemAlert problem={problem} />
      {!mails && <Loading />}
      {mails && mails.length === 0 && !problem && <p class="empty">{t('noMail')}</p>}
      <ol class="mail-list">
        {(mails ?? []).map((mail) => (
          <li key={mail.id} class="card mail">
            <h2>{mail.subject}</h2>
            <p class="meta">{t('mailTo', { to: mail.to, date: formatDate(mail.sent_at) })}</p>
            <pre class="mail-body">{linkify(mail.body)}</pre>
            {mail.links.length > 0 && (
              <ul class="mail-links" aria-label={t('mailLinks')}>
                {mail.links.map((link) => (
                  <li key={link}>
                    <a href={localHref(link)}>{localHref(link)}</a>
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ol>
    </>
  );
}
