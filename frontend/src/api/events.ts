// Live job state from GET /jobs/{id}/events, read with fetch() so the bearer token can be sent
// (EventSource cannot set headers). Reconnects with Last-Event-ID until the job ends.
import { apiFetch } from './http';
import { toProblem, type ApiProblem } from './problem';
import { TERMINAL, type Job } from './types';

const MAX_BACKOFF_MS = 15000;

interface Frame {
  id: string | null;
  event: string;
  data: string;
}

/** Parse complete `text/event-stream` frames out of `buffer`; returns them and the unparsed rest. */
export function parseFrames(buffer: string): { frames: Frame[]; rest: string } {
  const frames: Frame[] = [];
  const normalized = buffer.replace(/\r\n?/g, '\n');
  const blocks = normalized.split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let id: string | null = null;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length || id !== null) frames.push({ id, event, data: data.join('\n') });
  }
  return { frames, rest };
}

export interface JobWatch {
  stop(): void;
}

/** Follow one job; `onJob` gets every state, `onError` a problem that ended the watch early. */
export function watchJob(
  jobId: string,
  onJob: (job: Job) => void,
  onError: (problem: ApiProblem) => void,
): JobWatch {
  const controller = new AbortController();
  let lastId: string | null = null;
  let failures = 0;
  let timer = 0;

  const connect = async (): Promise<void> => {
    let ended = false;
    try {
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      if (lastId) headers['Last-Event-ID'] = lastId;
      const response = await apiFetch(
        new Request(`/api/v1/jobs/${encodeURIComponent(jobId)}/events`, { headers, signal: controller.signal }),
      );
      if (!response.ok || !response.body) {
        const problem = toProblem(await response.text().catch(() => ''), response.status);
        // 4xx will not get better by retrying; 5xx, gateway hiccups and 429 (too many streams
        // open; one may close soon) might.
        if (response.status < 500 && response.status !== 429) {
          onError(problem);
          return;
        }
        throw problem;
      }
      failures = 0;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const { frames, rest } = parseFrames(buffer);
        buffer = rest;
        for (const frame of frames) {
          if (frame.id !== null) lastId = frame.id;
          if (frame.event !== 'job' && frame.event !== 'message') continue;
          let job: Job;
          try {
            job = JSON.parse(frame.data) as Job;
          } catch {
            continue;
          }
          onJob(job);
          if (job.status && TERMINAL.has(job.status)) ended = true;
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      void error;
    }
    if (ended || controller.signal.aborted) return;
    failures += 1;
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(failures - 1, 4));
    timer = window.setTimeout(() => void connect(), delay);
  };

  void connect();
  return {
    stop() {
      controller.abort();
      window.clearTimeout(timer);
    },
  };
}
