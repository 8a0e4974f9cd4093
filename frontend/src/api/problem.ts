// API failures as one error type with a readable message, whatever the server (or network) sent.
import { t } from '../i18n';

export interface FieldError {
  field: string;
  in?: string;
  message: string;
}

export class ApiProblem extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: readonly FieldError[];

  constructor(init: { status: number; type?: string; title?: string; detail?: string; errors?: FieldError[] }) {
    const detail = init.detail || init.title || t('errorGeneric');
    super(detail);
    this.status = init.status;
    this.type = init.type ?? 'about:blank';
    this.title = init.title ?? '';
    this.detail = detail;
    this.errors = init.errors ?? [];
  }

  /** Field messages keyed by field name (`params.seconds` stays dotted). */
  get fields(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const error of this.errors) {
      const key = error.field || '';
      out[key] = out[key] ? `${out[key]} ${error.message}` : error.message;
    }
    return out;
  }

  get emailNotVerified(): boolean {
    return this.status === 403 && this.type.endsWith('/email-not-verified');
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fallbackDetail(status: number): string {
  if (status === 0) return t('errorNetwork');
  if (status === 404) return t('errorNotFound');
  if (status === 413) return t('errorTooLarge');
  if (status === 429) return t('errorThrottled');
  if (status >= 500) return t('errorServer');
  return t('errorGeneric');
}

/** Turn whatever came back (problem+json, HTML from a proxy, nothing) into an ApiProblem. */
export function toProblem(body: unknown, status: number): ApiProblem {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = null;
    }
  }
  if (!isRecord(parsed)) return new ApiProblem({ status, detail: fallbackDetail(status) });
  const errors = Array.isArray(parsed['errors'])
    ? parsed['errors'].filter(isRecord).map((e) => ({
        field: typeof e['field'] === 'string' ? e['field'] : '',
        message: typeof e['message'] === 'string' ? e['message'] : String(e['message'] ?? ''),
      }))
    : [];
  const text = (key: string): string | undefined => (typeof parsed[key] === 'string' ? (parsed[key] as string) : undefined);
  const detail = text('detail');
  return new ApiProblem({
    status,
    ...(text('type') ? { type: text('type') as string } : {}),
    ...(text('title') ? { title: text('title') as string } : {}),
    detail: detail ?? text('message') ?? fallbackDetail(status),
    errors,
  });
}

export function asProblem(error: unknown): ApiProblem {
  if (error instanceof ApiProblem) return error;
  if (error instanceof DOMException && error.name === 'AbortError') throw error;
  return new ApiProblem({ status: 0, detail: t('errorNetwork') });
}

/** The data of an openapi-fetch result, or throw its error as an ApiProblem. */
export async function unwrap<T>(pending: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await pending;
  } catch (error) {
    throw asProblem(error);
  }
  if (result.response.ok) return result.data as T;
  throw toProblem(result.error, result.response.status);
}
