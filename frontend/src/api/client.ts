// The typed API client (openapi-fetch over the generated schema plus pending additions).
import createClient from 'openapi-fetch';
import { apiFetch } from './http';
import type { ApiPaths } from './pending';

export const api = createClient<ApiPaths>({ baseUrl: '', fetch: apiFetch, credentials: 'same-origin' });
export { unwrap } from './problem';
