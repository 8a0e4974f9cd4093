// `/posts/{id}`: one post with its pictures; Edit and Delete for its author and admins.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api/client';
import { ApiProblem, asProblem, unwrap } from '../api/problem';
import { attachmentsOf, isImage, type Post } from '../api/types';
import { Loading, PageTitle, ProblemAlert } from '../components/ui';
import { formatDate, t } from '../i18n';
import { navigate } from '../router';
import { flash, isAdmin, me } from '../session';
import { Picture } from './Home';

/** Rows get both timestamps a moment apart on insert; only a later change counts as an edit. */
function wasEdited(post: Post): boolean {
  if (!post.updated_at || !post.created_at) return false;
  return Date.parse(post.updated_at) - Date.parse(post.created_at) > 60_000;
}

export function canEdit(post: Post): boolean {
  return isAdmin.value || (me.value !== null && me.value.id === post.author?.id);
}

/** Ask, then delete the post and go back to the feed. */
export async function deletePost(post: Post, onProblem: (p: ApiProblem) => void): Promise<void> {
  if (!window.confirm(t('confirmDeletePost', { title: post.title ?? '' }))) return;
  try {
    await unwrap(api.DELETE('/api/v1/posts/{post_id}', { params: { path: { post_id: post.id ?? '' } } }));
    flash.value = t('postDeleted');
    navigate('/');
  } catch (error) {
    onProblem(asProblem(error));
  }
}

export default function PostView({ id }: { id: string }) {
  const [post, setPost] = useState<Post | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);

  useEffect(() => {
    let live = true;
    unwrap(api.GET('/api/v1/posts/{post_id}', { params: { path: { post_id: id } } }))
      .then((data) => live && setPost(data as Post))
      .catch((error: unknown) => live && setProblem(asProblem(error)));
    return () => {
      live = false;
    };
  }, [id]);

  if (!post) {
    return (
      <>
        <PageTitle>{problem ? t('postNotFound') : t('loading')}</PageTitle>
        {problem ? <ProblemAlert problem={problem} /> : <Loading />}
        <p>
          <a href="/">{t('backToPosts')}</a>
        </p>
      </>
    );
  }
  const images = attachmentsOf(post).filter(isImage);
  const files = attachmentsOf(post).filter((a) => !isImage(a));
  return (
    <article class="post">
      <p>
        <a href="/">← {t('backToPosts')}</a>
      </p>
      <PageTitle>{post.title}</PageTitle>
      <p class="meta">
        {t('byOn', { author: post.author?.username ?? '?', date: formatDate(post.created_at) })}
        {wasEdited(post) && ` · ${t('edited', { date: formatDate(post.updated_at) })}`}
      </p>
      {canEdit(post) && (
        <div class="actions">
          <a class="button button-secondary" href={`/posts/${post.id}/edit`}>
            {t('edit')}
          </a>
          <button type="button" class="button-danger" onClick={() => void deletePost(post, setProblem)}>
            {t('delete')}
          </button>
        </div>
      )}
      <ProblemAlert problem={problem} />
      {images.length > 0 && (
        <div class="gallery">
          {images.map((image) => (
            <Picture key={image.id} src={image.url} alt={image.filename} />
          ))}
        </div>
      )}
      <div class="post-body">{post.body}</div>
      {files.length > 0 && (
        <ul class="files">
          {files.map((file) => (
            <li key={file.id}>
              <a href={file.url}>{file.filename}</a>
            </li>
          ))}
        </ul>
      )}
    </article>
  );
}
