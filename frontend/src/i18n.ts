// UI string catalogue. Add a language by adding a catalogue with the same keys.
const en = {
  appName: 'Flaskyard',
  tagline: 'The single-page app will live here.',
  linksHeading: 'Useful links',
  apiDocs: 'API docs',
  healthCheck: 'Health check',
  apiChecking: 'API: checking...',
  apiOk: 'API: ok',
  apiUnreachable: 'API: unreachable',
} as const;

export type MessageKey = keyof typeof en;
export type Catalogue = Readonly<Record<MessageKey, string>>;

export const catalogues: Readonly<Record<string, Catalogue>> = { en };

export const t: Catalogue = en;
