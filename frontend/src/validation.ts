// The API's input rules, checked before submit so mistakes show beside the field at once.
import { t } from './i18n';

export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export type Errors = Record<string, string>;

export function checkUsername(value: string): string | undefined {
  return USERNAME_PATTERN.test(value) ? undefined : t('ruleUsername');
}

export function checkPassword(value: string): string | undefined {
  return value.length >= PASSWORD_MIN && value.length <= PASSWORD_MAX ? undefined : t('rulePassword');
}

export function checkEmail(value: string): string | undefined {
  return EMAIL_PATTERN.test(value.trim()) ? undefined : t('ruleEmail');
}

export function required(value: string): string | undefined {
  return value.trim() ? undefined : t('ruleRequired');
}

/** Only the failing checks, so `Object.keys(errors).length` says whether the form may go. */
export function collect(checks: Record<string, string | undefined>): Errors {
  const out: Errors = {};
  for (const [field, message] of Object.entries(checks)) if (message) out[field] = message;
  return out;
}

/** Move focus to the first invalid field, as screen-reader users expect after a failed submit. */
export function focusFirstError(form: HTMLFormElement | null): void {
  window.setTimeout(() => form?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(), 0);
}
