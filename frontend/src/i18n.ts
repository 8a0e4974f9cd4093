// UI strings: one JSON catalogue per language; components re-render when the language changes.
import { effect, signal } from '@preact/signals';
import de from './locales/de.json';
import en from './locales/en.json';

export type MessageKey = keyof typeof en;
type Catalogue = Readonly<Record<MessageKey, string>>;

/** The German catalogue must have every English key (tsc fails otherwise). */
const german: Catalogue = de;
const catalogues: Readonly<Record<Lang, Catalogue>> = { en, de: german };

export const LANGUAGES = { en: 'English', de: 'Deutsch' } as const;
export type Lang = keyof typeof LANGUAGES;
const STORAGE_KEY = 'flaskyard.lang';

function isLang(value: unknown): value is Lang {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(LANGUAGES, value);
}

function initialLang(): Lang {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    if (isLang(stored)) return stored;
  } catch {
    // Storage can be disabled; fall back to the browser's preference.
  }
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = tag.toLowerCase().split('-')[0];
    if (isLang(base)) return base;
  }
  return 'en';
}

export const lang = signal<Lang>(initialLang());

export function setLang(value: string): void {
  if (!isLang(value)) return;
  lang.value = value;
  try {
    localStorage.setItem(STORAGE_KEY, value);
  } catch {
    // Not remembered, but still applied for this visit.
  }
}

effect(() => {
  document.documentElement.lang = lang.value;
});

/** The message for `key` in the current language, with `{name}` placeholders filled in. */
export function t(key: MessageKey, vars?: Readonly<Record<string, string | number>>): string {
  const text = catalogues[lang.value][key] ?? en[key];
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(lang.value, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 ? 0 : 1;
  return `${new Intl.NumberFormat(lang.value, { maximumFractionDigits: digits }).format(value)} ${units[unit]}`;
}
