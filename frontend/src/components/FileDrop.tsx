// A native file input labelled by the caller, plus a drop zone and an upload progress bar.
import { useRef, useState } from 'preact/hooks';
import { ApiProblem, asProblem } from '../api/problem';
import type { Upload } from '../api/types';
import { uploadFile } from '../api/upload';
import { t } from '../i18n';
import { describedBy, FieldNotes } from './Field';
import { ProblemAlert, ProgressBar } from './ui';

export function FileDrop({ id, label, accept, hint, onUploaded }: {
  id: string;
  label: string;
  accept: string;
  hint?: string;
  onUploaded: (upload: Upload, file: File) => void;
}) {
  const [progress, setProgress] = useState<number | null>(null);
  const [current, setCurrent] = useState('');
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  const upload = async (files: FileList | null) => {
    const list = Array.from(files ?? []);
    setProblem(null);
    for (const file of list) {
      setCurrent(file.name);
      setProgress(0);
      try {
        const stored = await uploadFile(file, setProgress);
        onUploaded(stored, file);
      } catch (error) {
        setProblem(asProblem(error));
        break;
      }
    }
    setProgress(null);
    if (input.current) input.current.value = '';
  };

  return (
    <div class="field">
      <label for={id}>{label}</label>
      <div
        class={`drop${over ? ' drop-over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          void upload(e.dataTransfer?.files ?? null);
        }}
      >
        <input
          ref={input}
          id={id}
          type="file"
          accept={accept}
          aria-describedby={describedBy(id, hint)}
          disabled={progress !== null}
          onChange={(e) => void upload(e.currentTarget.files)}
        />
        <p class="drop-text" aria-hidden="true">
          {t('dropHere')}
        </p>
      </div>
      <FieldNotes id={id} hint={hint} />
      <div aria-live="polite">
        {progress !== null && (
          <div class="upload-progress">
            <span>{t('uploading', { name: current, percent: progress })}</span>
            <ProgressBar value={progress} label={t('uploadProgress', { name: current })} />
          </div>
        )}
      </div>
      <ProblemAlert problem={problem} />
    </div>
  );
}
