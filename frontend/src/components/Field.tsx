// A labelled input, textarea or select with its hint and error beside it.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

type FieldProps = {
  id: string;
  label: string;
  hint?: string | undefined;
  error?: string | undefined;
  value: string;
  onInput: (event: { currentTarget: { value: string } }) => void;
  type?: 'text' | 'email' | 'password' | 'number' | 'search';
  multiline?: boolean;
  rows?: number;
  autocomplete?: string;
  inputMode?: 'numeric' | 'text' | 'email';
  required?: boolean;
  maxLength?: number;
  min?: number;
  max?: number;
};
type Common = Pick<FieldProps, 'id' | 'label' | 'hint' | 'error'>;

export function describedBy(id: string, hint?: string, error?: string): string | undefined {
  const ids = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean);
  return ids.length ? ids.join(' ') : undefined;
}

export function FieldNotes({ id, hint, error }: { id: string; hint?: string | undefined; error?: string | undefined }) {
  return (
    <>
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p class="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </>
  );
}

/**
 * True once the person edits the field, until its form is submitted again: a message about the
 * old value would otherwise stay beside the corrected one until the next submit.
 */
function useEditedSinceSubmit(): [
  { current: HTMLInputElement | HTMLTextAreaElement | null },
  boolean,
  () => void,
] {
  const ref = useRef<HTMLInputElement | HTMLTextAreaElement>(null);
  const [edited, setEdited] = useState(false);
  useEffect(() => {
    const form = ref.current?.form;
    if (!form) return undefined;
    const reset = () => setEdited(false);
    form.addEventListener('submit', reset);
    return () => form.removeEventListener('submit', reset);
  }, []);
  return [ref, edited, () => setEdited(true)];
}

export function Field(props: FieldProps) {
  const { id, label, hint, error: given, multiline, type = 'text', onInput, ...rest } = props;
  const [ref, edited, markEdited] = useEditedSinceSubmit();
  const error = edited ? undefined : given;
  const note = hint !== error ? hint : undefined; // a rule broken is said once, as the error
  const changed = (event: { currentTarget: { value: string } }) => {
    if (given) markEdited();
    onInput(event);
  };
  const shared = {
    ...rest,
    id,
    'aria-invalid': error ? ('true' as const) : undefined,
    'aria-describedby': describedBy(id, note, error),
  };
  // Preact types <input> as one variant per `type`; a runtime-chosen type needs this one cast.
  const inputProps = { ...shared, type } as JSX.IntrinsicElements['input'];
  return (
    <div class={`field${error ? ' has-error' : ''}`}>
      <label for={id}>{label}</label>
      {multiline ? (
        <textarea {...shared} ref={ref as { current: HTMLTextAreaElement | null }} onInput={changed} />
      ) : (
        <input {...inputProps} ref={ref as { current: HTMLInputElement | null }} onInput={changed} />
      )}
      <FieldNotes id={id} hint={note} error={error} />
    </div>
  );
}

export function SelectField(props: Common & {
  value: string;
  onChange: (value: string) => void;
  children: ComponentChildren;
}) {
  const { id, label, hint, error, value, onChange, children } = props;
  return (
    <div class={`field${error ? ' has-error' : ''}`}>
      <label for={id}>{label}</label>
      <select
        id={id}
        value={value}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={describedBy(id, hint, error)}
        onChange={(e) => onChange((e.currentTarget as HTMLSelectElement).value)}
      >
        {children}
      </select>
      <FieldNotes id={id} hint={hint} error={error} />
    </div>
  );
}
