// `/jobs`: start a job, watch its live progress, cancel it, download an export.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api/client';
import { ApiProblem, asProblem, unwrap } from '../api/problem';
import type { Job, Upload } from '../api/types';
import { Field, SelectField } from '../components/Field';
import { FileDrop } from '../components/FileDrop';
import { JobCard, jobStatusLabel, jobTypeLabel } from '../components/JobCard';
import { Loading, PageTitle, ProblemAlert } from '../components/ui';
import { formatBytes, t } from '../i18n';
import { useLiveJobs } from '../jobs';
import { focusFirstError, type Errors } from '../validation';

const JOB_TYPES = ['demo', 'export_posts', 'import_posts'] as const;
type JobType = (typeof JOB_TYPES)[number];
const IMPORT_TYPES = '.zip,.json,application/zip,application/json';

function intIn(value: string, min: number, max: number): number | null {
  if (!/^\d+$/.test(value.trim())) return null;
  const n = Number(value);
  return n >= min && n <= max ? n : null;
}

function StartForm({ onStarted }: { onStarted: (job: Job) => void }) {
  const [type, setType] = useState<JobType>('demo');
  const [seconds, setSeconds] = useState('10');
  const [steps, setSteps] = useState('10');
  const [failAt, setFailAt] = useState('');
  const [uploads, setUploads] = useState<Upload[] | null>(null);
  const [uploadsProblem, setUploadsProblem] = useState<ApiProblem | null>(null);
  const [uploadId, setUploadId] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);

  useEffect(() => {
    if (type !== 'import_posts' || uploads) return;
    unwrap(api.GET('/api/v1/uploads', { params: { query: { per_page: 50 } } }))
      .then((page) => {
        const importable = (page.items ?? []).filter((u) => /\.(zip|json)$/i.test(u.filename ?? ''));
        setUploads(importable);
        if (importable[0]?.id && !uploadId) setUploadId(importable[0].id);
      })
      .catch((error: unknown) => {
        setUploads([]);
        setUploadsProblem(asProblem(error));
      });
  }, [type]);

  const submit = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    const found: Errors = {};
    let params: Record<string, unknown> = {};
    if (type === 'demo') {
      const s = intIn(seconds, 0, 600);
      const n = intIn(steps, 1, 1000);
      if (s === null) found['params.seconds'] = t('ruleSeconds');
      if (n === null) found['params.steps'] = t('ruleSteps');
      params = { seconds: s, steps: n };
      if (failAt.trim()) {
        const f = intIn(failAt, 1, n ?? 1000);
        if (f === null) found['params.fail_at'] = t('ruleFailAt');
        params['fail_at'] = f;
      }
    } else if (type === 'import_posts') {
      if (!uploadId) found['params.upload_id'] = t('ruleImportFile');
      params = { upload_id: uploadId };
    }
    setErrors(found);
    if (Object.keys(found).length) return focusFirstError(form.current);
    setBusy(true);
    try {
      const job = await unwrap(api.POST('/api/v1/jobs', { body: { type, params } }));
      onStarted(job);
    } catch (error) {
      const p = asProblem(error);
      setErrors(p.fields);
      const shown = ['params.seconds', 'params.steps', 'params.fail_at', 'params.upload_id'];
      setProblem(p.errors.length && p.errors.every((e) => shown.includes(e.field)) ? null : p);
      focusFirstError(form.current);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form ref={form} class="card form" onSubmit={submit} noValidate aria-labelledby="start-heading">
      <h2 id="start-heading">{t('startJob')}</h2>
      <ProblemAlert problem={problem} />
      <SelectField id="job-type" label={t('jobType')} value={type} onChange={(v) => setType(v as JobType)}>
        {JOB_TYPES.map((value) => (
          <option key={value} value={value}>
            {jobTypeLabel(value)}
          </option>
        ))}
      </SelectField>
      {type === 'demo' && (
        <div class="row">
          <Field
            id="job-seconds"
            label={t('seconds')}
            type="number"
            inputMode="numeric"
            min={0}
            max={600}
            value={seconds}
            onInput={(e) => setSeconds(e.currentTarget.value)}
            error={errors['params.seconds']}
          />
          <Field
            id="job-steps"
            label={t('steps')}
            type="number"
            inputMode="numeric"
            min={1}
            max={1000}
            value={steps}
            onInput={(e) => setSteps(e.currentTarget.value)}
            error={errors['params.steps']}
          />
        </div>
      )}
      {type === 'demo' && (
        <Field
            id="job-fail-at"
            label={t('failAt')}
            type="number"
            inputMode="numeric"
            min={1}
            value={failAt}
            onInput={(e) => setFailAt(e.currentTarget.value)}
            hint={t('failAtHint')}
            error={errors['params.fail_at']}
          />
      )}
      {type === 'export_posts' && <p class="muted">{t('exportHelp')}</p>}
      {type === 'import_posts' && (
        <>
          <p class="muted">{t('importHelp')}</p>
          {!uploads && <Loading />}
          {uploadsProblem && <ProblemAlert problem={uploadsProblem} />}
          {uploads && uploads.length > 0 && (
            <SelectField
              id="job-upload"
              label={t('importFile')}
              value={uploadId}
              onChange={setUploadId}
              error={errors['params.upload_id']}
            >
              {uploads.map((upload) => (
                <option key={upload.id} value={upload.id}>
                  {upload.filename} ({formatBytes(upload.size ?? 0)})
                </option>
              ))}
            </SelectField>
          )}
          {uploads && uploads.length === 0 && errors['params.upload_id'] && (
            <p class="field-error">{errors['params.upload_id']}</p>
          )}
          <FileDrop
            id="job-import-file"
            label={t('uploadImportFile')}
            accept={IMPORT_TYPES}
            hint={t('importFileHint')}
            onUploaded={(upload) => {
              setUploads((list) => [upload, ...(list ?? []).filter((u) => u.id !== upload.id)]);
              setUploadId(upload.id ?? '');
            }}
          />
        </>
      )}
      <button type="submit" disabled={busy}>
        {t('start')}
      </button>
    </form>
  );
}

export default function Jobs() {
  const [initial, setInitial] = useState<Job[] | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const { jobs, add, streamProblem, lastChange } = useLiveJobs(initial);

  useEffect(() => {
    unwrap(api.GET('/api/v1/jobs', { params: { query: { per_page: 50 } } }))
      .then((page) => setInitial(page.items ?? []))
      .catch((error: unknown) => {
        setProblem(asProblem(error));
        setInitial([]);
      });
  }, []);

  return (
    <>
      <PageTitle>{t('jobsTitle')}</PageTitle>
      <div class="jobs-layout">
        <StartForm onStarted={add} />
        <section aria-labelledby="my-jobs">
          <h2 id="my-jobs">{t('yourJobs')}</h2>
          <p class="visually-hidden" aria-live="polite">
            {lastChange && t('jobChanged', { type: jobTypeLabel(lastChange.type), status: jobStatusLabel(lastChange.status) })}
          </p>
          <ProblemAlert problem={problem ?? streamProblem} />
          {!initial && <Loading />}
          {initial && jobs.length === 0 && <p class="empty">{t('noJobs')}</p>}
          <ul class="job-list">
            {jobs.map((job) => (
              <JobCard key={job.id} job={job} />
            ))}
          </ul>
        </section>
      </div>
    </>
  );
}
