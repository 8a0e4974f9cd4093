// A live list of jobs: loaded once, then unfinished jobs follow their event streams.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api/client';
import { watchJob, type JobWatch } from './api/events';
import { unwrap, type ApiProblem } from './api/problem';
import { TERMINAL, type Job } from './api/types';

/**
 * Browsers allow about six HTTP/1.1 connections per host; open streams count against them, so
 * only a few jobs stream at once and the rest are polled until a stream is free.
 */
const MAX_STREAMS = 3;
const POLL_MS = 4000;

export function useLiveJobs(initial: Job[] | null): {
  jobs: Job[];
  add: (job: Job) => void;
  streamProblem: ApiProblem | null;
  lastChange: Job | null;
} {
  const [jobs, setJobs] = useState<Job[]>([]);
  const [streamProblem, setStreamProblem] = useState<ApiProblem | null>(null);
  const [lastChange, setLastChange] = useState<Job | null>(null);
  const watches = useRef(new Map<string, JobWatch>());
  const statuses = useRef(new Map<string, string>());

  const update = (job: Job) => {
    const id = job.id ?? '';
    const before = statuses.current.get(id);
    statuses.current.set(id, job.status ?? '');
    if (before !== undefined && before !== job.status) setLastChange(job);
    setJobs((list) => {
      const old = list.find((j) => j.id === job.id);
      // Keep the owner from the list: event payloads are the plain job object.
      const merged = { ...old, ...job, ...(old?.owner && !job.owner ? { owner: old.owner } : {}) };
      return list.some((j) => j.id === job.id) ? list.map((j) => (j.id === job.id ? merged : j)) : [merged, ...list];
    });
  };

  const waiting = useRef(new Set<string>());

  const follow = (job: Job) => {
    const id = job.id;
    if (!id || TERMINAL.has(job.status ?? '') || watches.current.has(id)) return;
    if (watches.current.size >= MAX_STREAMS) {
      waiting.current.add(id);
      return;
    }
    waiting.current.delete(id);
    const done = () => {
      watches.current.get(id)?.stop();
      watches.current.delete(id);
      const next = waiting.current.values().next();
      if (!next.done) follow({ id: next.value });
    };
    watches.current.set(
      id,
      watchJob(
        id,
        (state) => {
          update(state);
          if (TERMINAL.has(state.status ?? '')) done();
        },
        (problem) => {
          setStreamProblem(problem);
          done();
        },
      ),
    );
  };

  useEffect(() => {
    const timer = window.setInterval(() => {
      for (const id of waiting.current) {
        unwrap(api.GET('/api/v1/jobs/{job_id}', { params: { path: { job_id: id } } }))
          .then((job) => {
            update(job);
            if (TERMINAL.has(job.status ?? '')) waiting.current.delete(id);
          })
          .catch(() => undefined);
      }
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, []);

  useEffect(() => {
    if (!initial) return;
    for (const job of initial) statuses.current.set(job.id ?? '', job.status ?? '');
    setJobs(initial);
    initial.forEach(follow);
  }, [initial]);

  useEffect(
    () => () => {
      for (const watch of watches.current.values()) watch.stop();
      watches.current.clear();
      waiting.current.clear();
    },
    [],
  );

  return {
    jobs,
    add: (job: Job) => {
      update(job);
      follow(job);
    },
    streamProblem,
    lastChange,
  };
}
