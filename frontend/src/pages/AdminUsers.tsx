// `/admin/users` (admins): users with search and paging, Admin/Active switches, everyone's jobs.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api/client';
import { ApiProblem, asProblem, unwrap } from '../api/problem';
import type { Job, UserItem } from '../api/types';
import { JobCard } from '../components/JobCard';
import { Loading, PageTitle, Pager, ProblemAlert } from '../components/ui';
import { formatDate, t } from '../i18n';
import { useLiveJobs } from '../jobs';
import { location, navigate } from '../router';
import { me } from '../session';

const PER_PAGE = 20;

async function openDashboard(event: MouseEvent, onProblem: (p: ApiProblem) => void): Promise<void> {
  event.preventDefault();
  try {
    // The dashboard is a server page; this call gives the browser its session cookie first.
    await unwrap(api.POST('/api/v1/auth/dashboard-session'));
    window.location.assign('/admin/rq/');
  } catch (error) {
    onProblem(asProblem(error));
  }
}

function UserRow({ user, onChange }: { user: UserItem; onChange: (user: UserItem) => void }) {
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  // The change on its way: the boxes show it at once, and fall back to the server's answer.
  const [pending, setPending] = useState<{ roles?: string[]; active?: boolean } | null>(null);
  const roles = user.roles ?? [];
  const admin = (pending?.roles ?? roles).includes('admin');
  const active = pending?.active ?? user.active ?? true;
  const self = user.id === me.value?.id;

  const patch = async (body: { roles?: string[]; active?: boolean }) => {
    setPending(body);
    setProblem(null);
    try {
      const updated = await unwrap(
        api.PATCH('/api/v1/users/{user_id}', { params: { path: { user_id: user.id ?? '' } }, body }),
      );
      onChange(updated);
    } catch (error) {
      setProblem(asProblem(error));
    } finally {
      setPending(null);
    }
  };

  const toggleAdmin = (on: boolean) =>
    patch({ roles: on ? [...new Set([...roles, 'user', 'admin'])] : roles.filter((r) => r !== 'admin') });

  return (
    <tr>
      <th scope="row">
        {user.username}
        {self && <small class="muted"> ({t('you')})</small>}
        <span class="narrow-only cell-email">{user.email}</span>
      </th>
      <td class="cell-email">
        {user.email}
        {!user.email_verified && <small class="badge badge-queued">{t('unverified')}</small>}
      </td>
      <td class="cell-date">{formatDate(user.created_at)}</td>
      <td class="cell-check">
        <input
          type="checkbox"
          aria-label={t('roleAdmin')}
          checked={admin}
          disabled={pending !== null}
          onChange={(e) => void toggleAdmin(e.currentTarget.checked)}
        />
      </td>
      <td class="cell-check">
        <input
          type="checkbox"
          aria-label={t('active')}
          checked={active}
          disabled={pending !== null}
          onChange={(e) => void patch({ active: e.currentTarget.checked })}
        />
        {problem && (
          <span class="field-error" role="alert">
            {problem.detail}
          </span>
        )}
      </td>
    </tr>
  );
}

function AllJobs() {
  const [initial, setInitial] = useState<Job[] | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const { jobs, streamProblem } = useLiveJobs(initial);
  useEffect(() => {
    unwrap(api.GET('/api/v1/jobs', { params: { query: { all: true, per_page: 50 } } }))
      .then((page) => setInitial(page.items ?? []))
      .catch((error: unknown) => {
        setProblem(asProblem(error));
        setInitial([]);
      });
  }, []);
  return (
    <section aria-labelledby="all-jobs">
      <h2 id="all-jobs">{t('allJobs')}</h2>
      <ProblemAlert problem={problem ?? streamProblem} />
      {!initial && <Loading />}
      {initial && jobs.length === 0 && !problem && <p class="empty">{t('noJobs')}</p>}
      <ul class="job-list job-grid">
        {jobs.map((job) => (
          <JobCard key={job.id} job={job} showOwner />
        ))}
      </ul>
    </section>
  );
}

export default function AdminUsers() {
  const query = location.value.query;
  const page = Math.max(1, Number(query.get('page')) || 1);
  const q = query.get('q') ?? '';
  const [search, setSearch] = useState(q);
  const [users, setUsers] = useState<{ items: UserItem[]; total: number } | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);

  useEffect(() => {
    let live = true;
    setProblem(null);
    const params = { page, per_page: PER_PAGE, ...(q ? { q } : {}) };
    unwrap(api.GET('/api/v1/users', { params: { query: params } }))
      .then((data) => live && setUsers({ items: data.items ?? [], total: data.total ?? 0 }))
      .catch((error: unknown) => live && setProblem(asProblem(error)));
    return () => {
      live = false;
    };
  }, [page, q]);

  const go = (nextQ: string, nextPage: number) => {
    const params = new URLSearchParams();
    if (nextQ) params.set('q', nextQ);
    if (nextPage > 1) params.set('page', String(nextPage));
    const qs = params.toString();
    navigate(`/admin/users${qs ? `?${qs}` : ''}`);
  };

  return (
    <>
      <div class="page-head">
        <PageTitle>{t('usersTitle')}</PageTitle>
        <a class="button button-secondary" href="/admin/rq/" onClick={(e) => void openDashboard(e, setProblem)}>
          {t('jobDashboard')}
        </a>
      </div>
      <form
        class="search"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          go(search.trim(), 1);
        }}
      >
        <label for="user-search">{t('searchUsers')}</label>
        <input id="user-search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        <button type="submit">{t('search')}</button>
      </form>
      <ProblemAlert problem={problem} />
      {!users && !problem && <Loading />}
      {users && (
        <div class="table-wrap">
          <table class="users">
            <caption class="visually-hidden">{t('usersCaption', { total: users.total })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('username')}</th>
                <th scope="col">{t('email')}</th>
                <th scope="col">{t('joined')}</th>
                <th scope="col">{t('roleAdmin')}</th>
                <th scope="col">{t('active')}</th>
              </tr>
            </thead>
            <tbody>
              {users.items.map((user) => (
                <UserRow
                  key={user.id}
                  user={user}
                  onChange={(updated) =>
                    setUsers((list) =>
                      list && { ...list, items: list.items.map((u) => (u.id === updated.id ? updated : u)) },
                    )
                  }
                />
              ))}
            </tbody>
          </table>
          {users.items.length === 0 && <p class="empty">{t('noUsers')}</p>}
        </div>
      )}
      {users && <Pager page={page} perPage={PER_PAGE} total={users.total} onPage={(p) => go(q, p)} />}
      <AllJobs />
    </>
  );
}
