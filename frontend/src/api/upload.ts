// File uploads through XMLHttpRequest, because fetch() reports no upload progress.
import { accessToken } from '../session';
import { baseHeaders, refreshAccess, sessionLost } from './http';
import { ApiProblem, toProblem } from './problem';
import type { Upload } from './types';
import { t } from '../i18n';

const UPLOAD_URL = '/api/v1/uploads';

function send(file: File, token: string | null, onProgress: (percent: number) => void): Promise<XMLHttpRequest> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', UPLOAD_URL);
    baseHeaders().forEach((value, name) => xhr.setRequestHeader(name, value));
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
    });
    xhr.addEventListener('load', () => resolve(xhr));
    xhr.addEventListener('error', () => reject(new ApiProblem({ status: 0, detail: t('errorNetwork') })));
    xhr.addEventListener('abort', () => reject(new ApiProblem({ status: 0, detail: t('uploadAborted') })));
    const form = new FormData();
    form.append('file', file);
    xhr.send(form);
  });
}

/** Upload one file as the signed-in user; resolves with the stored upload. */
export async function uploadFile(file: File, onProgress: (percent: number) => void): Promise<Upload> {
  let xhr = await send(file, accessToken.value, onProgress);
  if (xhr.status === 401 && accessToken.value) {
    const fresh = await refreshAccess();
    if (!fresh) {
      sessionLost();
      throw toProblem(xhr.responseText, 401);
    }
    onProgress(0);
    xhr = await send(file, fresh, onProgress);
  }
  if (xhr.status >= 200 && xhr.status < 300) return JSON.parse(xhr.responseText) as Upload;
  throw toProblem(xhr.responseText, xhr.status);
}
