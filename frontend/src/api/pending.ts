// Hand-written types for API additions the server does not describe yet.
//
// Each entry mirrors the agreed shape of an endpoint (or of new fields on an existing one). Once
// the backend serves it, `npm run gen:api` puts the same operation into schema.d.ts: delete the
// entry here then, and `ApiPaths` falls back to the generated one.
import type { components, paths } from './schema';

type Schemas = components['schemas'];
type Problem = Schemas['ValidationError'];
type Params<Q = never> = { query?: Q; header?: never; path?: never; cookie?: never };
type NoParams = Params;
type Json<T> = { headers: { [name: string]: unknown }; content: { 'application/json': T } };
type Empty = { headers: { [name: string]: unknown }; content?: never };
type Errors = { default: { headers: { [name: string]: unknown }; content: { 'application/problem+json': Problem } } };
type Body<T> = { content: { 'application/json': T } };

/** A1: an upload attached to a post, in `upload_ids` order. */
export interface Attachment {
  id: string;
  filename: string;
  content_type: string;
  size: number;
  url: string;
  thumbnail_url: string | null;
}

/** A7: who started a job (present on every job item). */
export interface JobOwner {
  id: string;
  username: string;
}

/** A8: one mail the app sent (development only). */
export interface DevMail {
  id: string;
  to: string;
  subject: string;
  body: string;
  sent_at: string;
  links: string[];
}

type Page<T> = { items: T[]; page: number; per_page: number; total: number };
type PageQuery = { page?: number; per_page?: number };

interface Pending {
  // A3: the caller's uploads, newest first.
  '/api/v1/uploads': {
    get: {
      parameters: Params<PageQuery>;
      requestBody?: never;
      responses: { 200: Json<Page<Schemas['UploadOut']>> } & Errors;
    };
  };
  // A4: sign out on every device.
  '/api/v1/auth/logout-all': {
    parameters: NoParams;
    post: { parameters: NoParams; requestBody?: never; responses: { 204: Empty } & Errors };
  };
  // A5: account self-service.
  '/api/v1/users/me/password': {
    parameters: NoParams;
    post: {
      parameters: NoParams;
      requestBody: Body<{ current_password: string; new_password: string; cookie?: boolean }>;
      responses: { 200: Json<Schemas['TokenPairOut']> } & Errors;
    };
  };
  '/api/v1/users/me/email': {
    parameters: NoParams;
    post: {
      parameters: NoParams;
      requestBody: Body<{ password: string; email: string }>;
      responses: { 202: Json<{ status?: string }> } & Errors;
    };
  };
  '/api/v1/users/me': {
    delete: {
      parameters: NoParams;
      requestBody: Body<{ password: string }>;
      responses: { 204: Empty } & Errors;
    };
  };
  // A6: search by username or email.
  '/api/v1/users': {
    get: {
      parameters: Params<PageQuery & { q?: string }>;
      requestBody?: never;
      responses: { 200: Json<Schemas['UserPageOut']> } & Errors;
    };
  };
  // A7: admins list every user's jobs; items name their owner.
  '/api/v1/jobs': {
    get: {
      parameters: Params<PageQuery & { all?: boolean }>;
      requestBody?: never;
      responses: { 200: Json<Page<Schemas['JobItemOut'] & { owner?: JobOwner }>> } & Errors;
    };
  };
  // A8: the development mail outbox.
  '/api/v1/dev/mail': {
    parameters: NoParams;
    get: { parameters: NoParams; requestBody?: never; responses: { 200: Json<{ items: DevMail[] }> } & Errors };
  };
}

type Merge<A, B> = {
  [K in keyof A | keyof B]: K extends keyof B
    ? K extends keyof A
      ? Omit<A[K], keyof B[K]> & B[K]
      : B[K]
    : K extends keyof A
      ? A[K]
      : never;
};

/** The generated paths with the pending additions laid over them. */
export type ApiPaths = Merge<paths, Pending>;
