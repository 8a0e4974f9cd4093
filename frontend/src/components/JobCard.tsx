// One job: live progress bar, status text, Cancel, and the result (a Download link for exports).
import { useState } from 'preact/hooks';
import { api } from '../api/client';
import { downloadFile } from '../api/download';
import { ApiProblem, asProblem, unwrap } from '../api/problem';
import { TERMINAL, type Job } from '../api/types';
import { formatDate, t, type MessageKey } from '../i18n';
import { ProblemAlert, ProgressBar } from './ui';

const TYPE_KEYS: Record<string, MessageKey> = {
  demo: 'jobTypeDemo',
  export_posts: 'jobTypeExport',
  import_posts: 'jobTypeImport',
  thumbnail: 'jobTypeThumbnail',
};
const STATUS_KEYS: Record<string, MessageKey> = {
  queued: 'statusQueued',
  started: 'statusStarted',
  finished: 'statusFinished',
  failed: 'statusFailed',
  canceled: 'statusCanceled',
};

export function jobTypeLabel(type: string | undefined): string {
  const key = type ? TYPE_KEYS[type] : undefined;
  return key ? t(key) : (type ?? '?');
}

export function jobStatusLabel(status: string | undefined): string {
  const key = status ? STATUS_KEYS[status] : undefined;
  return key ? t(key) : (status ?? '?');
}

/** The worker's progress messages (English, stored with the job) in the page's language. */
const MESSAGES: ReadonlyArray<readonly [RegExp, MessageKey]> = [
  [/^Step (\d+) of (\d+)$/, 'jobMessageStep'],
  [/^Exported (\d+) of (\d+)$/, 'jobMessageExported'],
  [/^Imported (\d+) of (\d+)$/, 'jobMessageImported'],
  [/^Export ready$/, 'jobMessageExportReady'],
  [/^Reading image$/, 'jobMessageReadingImage'],
  [/^Thumbnail ready$/, 'jobMessageThumbnailReady'],
  [/^Canceled by its owner\.$/, 'jobMessageCanceledByOwner'],
  [/^Its worker stopped mid-run; the job runs again\.$/, 'jobMessageRetrying'],
];

/** Why a job failed, as the worker wrote it (English), for the same treatment. */
const ERRORS: ReadonlyArray<readonly [RegExp, MessageKey]> = [
  [/^Failed at step (\d+) of (\d+), as asked\.$/, 'jobErrorFailAt'],
  [/^The job ran past its (\d+) s limit\.$/, 'jobErrorTimeout'],
  [/^The job was abandoned: its worker stopped mid-run\.$/, 'jobErrorAbandoned'],
  [/^That upload does not exist or is not yours\.$/, 'jobErrorUpload'],
  [/^Only zip and JSON uploads can be imported\.$/, 'jobErrorImportType'],
  [/^The archive has no posts\.json\.$/, 'jobErrorNoPosts'],
  [/^posts\.json is not valid JSON\.$/, 'jobErrorNotJson'],
  [/^Expected a list of posts, or an object with a "posts" list\.$/, 'jobErrorShape'],
];

function translated(text: string, table: ReadonlyArray<readonly [RegExp, MessageKey]>): string {
  for (const [pattern, key] of table) {
    const found = pattern.exec(text);
    if (found) return t(key, { n: found[1] ?? '', of: found[2] ?? '' });
  }
  return text; // one the table does not know: as the server wrote it
}

export function jobError(error: string): string {
  return translated(error, ERRORS);
}

export function jobMessage(message: string): string {
  return translated(message, MESSAGES);
}

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function ResultView({ job }: { job: Job }) {
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const result = record(job.result);
  if (job.status !== 'finished' || !result) return null;
  if (job.type === 'export_posts' && typeof result['upload_id'] === 'string') {
    const url = `/api/v1/uploads/${result['upload_id']}`;
    return (
      <div class="job-result">
        <p>
          {t('exportReady', { count: Number(result['posts'] ?? 0) })}{' '}
          <a
            href={url}
            download
            onClick={(event) => {
              // The file is private: fetch it with the bearer token instead of plain navigation.
              event.preventDefault();
              setProblem(null);
              downloadFile(url, 'posts-export.zip').catch((error: unknown) => setProblem(asProblem(error)));
            }}
          >
            {t('download')}
          </a>
        </p>
        <ProblemAlert problem={problem} />
      </div>
    );
  }
  if (job.type === 'import_posts') {
    const errors = Array.isArray(result['errors']) ? (result['errors'] as unknown[]) : [];
    return (
      <div class="job-result">
        <p>
          {t('importSummary', {
            imported: Number(result['imported'] ?? 0),
            skipped: Number(result['skipped'] ?? 0),
            failed: Number(result['failed'] ?? 0),
          })}
        </p>
        {errors.length > 0 && (
          <ul class="import-errors">
            {errors.slice(0, 10).map((error, index) => (
              <li key={index}>{typeof error === 'string' ? error : JSON.stringify(error)}</li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  return null;
}

export function JobCard({ job, showOwner = false }: { job: Job; showOwner?: boolean }) {
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const ended = TERMINAL.has(job.status ?? '');
  const label = jobTypeLabel(job.type);

  const cancel = async () => {
    setCancelling(true);
    setProblem(null);
    try {
      await unwrap(api.DELETE('/api/v1/jobs/{job_id}', { params: { path: { job_id: job.id ?? '' } } }));
    } catch (error) {
      setProblem(asProblem(error));
      setCancelling(false);
    }
  };

  return (
    <li class={`card job job-${job.status ?? 'unknown'}`}>
      <div class="job-head">
        <h3>{label}</h3>
        <span class={`badge badge-${job.status ?? 'unknown'}`}>{jobStatusLabel(job.status)}</span>
      </div>
      <p class="meta">
        {showOwner && job.owner && `${job.owner.username} · `}
        {t('startedAt', { date: formatDate(job.created_at) })}
      </p>
      <ProgressBar value={job.progress ?? 0} label={t('jobProgress', { type: label })} />
      <p class="job-status">
        {t('jobStatusLine', { status: jobStatusLabel(job.status), percent: job.progress ?? 0 })}
        {job.message ? ` — ${jobMessage(job.message)}` : ''}
      </p>
      {job.status === 'failed' && job.error && <p class="field-error">{jobError(job.error)}</p>}
      <ResultView job={job} />
      {!ended && (
        <button type="button" class="button-secondary button-small" disabled={cancelling} onClick={() => void cancel()}>
          {t('cancel')}
        </button>
      )}
      <ProblemAlert problem={problem} />
    </li>
  );
}
