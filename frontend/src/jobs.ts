// A live list of jobs: loaded once, then each unfinished job follows its event stream.
import { useEffect, useRef, useState } from 'preact/hooks';
import { watchJob, type JobWatch } from './api/events';
import type { ApiProblem } from './api/problem';
import { TERMINAL, type Job } from './api/types';

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

  const follow = (job: Job) => {
    const id = job.id;
    if (!id || TERMINAL.has(job.status ?? '') || watches.current.has(id)) return;
    watches.current.set(
      id,
      watchJob(id, update, (problem) => {
        setStreamProblem(problem);
        watches.current.delete(id);
      }),
    );
  };

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
