// Light or dark: follows prefers-color-scheme until the person picks one, which is remembered.
import { effect, signal } from '@preact/signals';

export type Theme = 'light' | 'dark';
const STORAGE_KEY = 'flaskyard.theme';
const media = window.matchMedia('(prefers-color-scheme: dark)');

function stored(): Theme | null {
  try {
    const value = localStorage.getItem(STORAGE_KEY);
    return value === 'light' || value === 'dark' ? value : null;
  } catch {
    return null;
  }
}

const system = (): Theme => (media.matches ? 'dark' : 'light');
export const theme = signal<Theme>(stored() ?? system());

media.addEventListener('change', () => {
  if (stored() === null) theme.value = system();
});

export function toggleTheme(): void {
  theme.value = theme.value === 'dark' ? 'light' : 'dark';
  try {
    localStorage.setItem(STORAGE_KEY, theme.value);
  } catch {
    // Applied for this visit only.
  }
}

effect(() => {
  document.documentElement.dataset['theme'] = theme.value;
});
