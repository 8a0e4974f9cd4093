// `/`: the posts feed, newest first, with thumbnails of attached images.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api/client';
import { ApiProblem, asProblem, unwrap } from '../api/problem';
import { attachmentsOf, isImage, type PostItem } from '../api/types';
import { Loading, PageTitle, Pager, ProblemAlert } from '../components/ui';
import { formatDate, t } from '../i18n';
import { location, navigate } from '../router';
import { signedIn } from '../session';

const PER_PAGE = 10;
const EXCERPT_CHARS = 280;

function excerpt(body: string): string {
  return body.length > EXCERPT_CHARS ? `${body.slice(0, EXCERPT_CHARS).trimEnd()}…` : body;
}

/**
 * An image that steps aside when the server will not serve it (e.g. still private): it shows
 * `fallback` instead, which is nothing unless the caller wants a placeholder.
 */
export function Picture({ src, alt, fallback = null }: { src: string; alt: string; fallback?: JSX.Element | null }) {
  const [broken, setBroken] = useState(false);
  if (broken) return fallback;
  return <img src={src} alt={alt} loading="lazy" onError={() => setBroken(true)} />;
}

function Thumb({ post, src }: { post: PostItem; src: string }) {
  const [broken, setBroken] = useState(false);
  if (broken) return null;
  return (
    <a href={`/posts/${post.id}`} class="post-thumb" tabIndex={-1} aria-hidden="true">
      <img src={src} alt="" loading="lazy" onError={() => setBroken(true)} />
    </a>
  );
}

function PostCard({ post }: { post: PostItem }) {
  const image = attachmentsOf(post).find(isImage);
  return (
    <article class="card post-card">
      {image && <Thumb post={post} src={image.thumbnail_url ?? image.url} />}
      <div class="post-card-text">
        <h2>
          <a href={`/posts/${post.id}`}>{post.title}</a>
        </h2>
        <p class="meta">{t('byOn', { author: post.author?.username ?? '?', date: formatDate(post.created_at) })}</p>
        {post.body && <p class="excerpt">{excerpt(post.body)}</p>}
      </div>
    </article>
  );
}

export default function Home() {
  const page = Math.max(1, Number(location.value.query.get('page')) || 1);
  const [posts, setPosts] = useState<{ items: PostItem[]; total: number } | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);

  useEffect(() => {
    let live = true;
    setProblem(null);
    unwrap(api.GET('/api/v1/posts', { params: { query: { page, per_page: PER_PAGE } } }))
      .then((data) => live && setPosts({ items: (data.items ?? []) as PostItem[], total: data.total ?? 0 }))
      .catch((error: unknown) => live && setProblem(asProblem(error)));
    return () => {
      live = false;
    };
  }, [page]);

  return (
    <>
      <div class="page-head">
        <PageTitle>{t('postsTitle')}</PageTitle>
        {signedIn.value && (
          <a class="button" href="/posts/new">
            {t('newPost')}
          </a>
        )}
      </div>
      <ProblemAlert problem={problem} />
      {!posts && !problem && <Loading />}
      {posts && posts.items.length === 0 && posts.total === 0 && <p class="empty">{t('noPosts')}</p>}
      {posts && posts.items.length === 0 && posts.total > 0 && (
        <p class="empty">
          {t('noPostsOnPage')} <a href="/">{t('firstPage')}</a>
        </p>
      )}
      {posts && posts.items.length > 0 && (
        <div class="feed">
          {posts.items.map((post) => (
            <PostCard key={post.id} post={post} />
          ))}
        </div>
      )}
      {posts && (
        <Pager
          page={page}
          perPage={PER_PAGE}
          total={posts.total}
          onPage={(next) => navigate(next === 1 ? '/' : `/?page=${next}`)}
        />
      )}
    </>
  );
}
