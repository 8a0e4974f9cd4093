// The typed API client: openapi-fetch over the types generated from the OpenAPI document.
import createClient from 'openapi-fetch';
import { apiFetch } from './http';
import type { paths } from './schema';

export const api = createClient<paths>({ baseUrl: '', fetch: apiFetch, credentials: 'same-origin' });
export { unwrap } from './problem';
