// `/posts/new` and `/posts/{id}/edit`: title, body and pictures (file picker or drag and drop).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api/client';
import { ApiProblem, asProblem, unwrap } from '../api/problem';
import { attachmentsOf, type Attachment, type Post } from '../api/types';
import { Field } from '../components/Field';
import { FileDrop } from '../components/FileDrop';
import { Loading, PageTitle, ProblemAlert } from '../components/ui';
import { formatBytes, t } from '../i18n';
import { navigate } from '../router';
import { flash } from '../session';
import { collect, focusFirstError, required, type Errors } from '../validation';
import { Picture } from './Home';
import { canEdit, deletePost } from './PostView';

const IMAGE_TYPES = 'image/png,image/jpeg,image/gif,image/webp';
const TITLE_MAX = 200;

/** A picture on the form: stored ones show from the server, new ones from a local data: URL. */
interface Picked extends Attachment {
  preview?: string;
}

function readPreview(file: File): Promise<string> {
  // data: URLs, because the CSP allows img-src data: but not blob:.
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.addEventListener('load', () => resolve(String(reader.result)));
    reader.addEventListener('error', () => resolve(''));
    reader.readAsDataURL(file);
  });
}

export default function PostEdit({ id }: { id?: string }) {
  const editing = id !== undefined;
  const [post, setPost] = useState<Post | null>(null);
  const [title, setTitle] = useState('');
  const [body, setBody] = useState('');
  const [pictures, setPictures] = useState<Picked[]>([]);
  const [errors, setErrors] = useState<Errors>({});
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);

  useEffect(() => {
    if (!editing) return;
    let live = true;
    unwrap(api.GET('/api/v1/posts/{post_id}', { params: { path: { post_id: id } } }))
      .then((data) => {
        if (!live) return;
        const loaded = data as Post;
        setPost(loaded);
        setTitle(loaded.title ?? '');
        setBody(loaded.body ?? '');
        setPictures(attachmentsOf(loaded));
      })
      .catch((error: unknown) => live && setProblem(asProblem(error)));
    return () => {
      live = false;
    };
  }, [id]);

  const submit = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    const found = collect({
      title: required(title) ?? (title.length > TITLE_MAX ? t('ruleTitle', { max: TITLE_MAX }) : undefined),
    });
    setErrors(found);
    if (Object.keys(found).length) return focusFirstError(form.current);
    setBusy(true);
    const payload = { title: title.trim(), body, upload_ids: pictures.map((p) => p.id) };
    try {
      const saved = editing
        ? await unwrap(api.PATCH('/api/v1/posts/{post_id}', { params: { path: { post_id: id } }, body: payload }))
        : await unwrap(api.POST('/api/v1/posts', { body: payload }));
      flash.value = editing ? t('postSaved') : t('postPublished');
      navigate(`/posts/${saved.id}`);
    } catch (error) {
      const p = asProblem(error);
      const fields = p.fields;
      setErrors(fields);
      const known = ['title', 'body'];
      setProblem(p.errors.every((e) => known.includes(e.field)) && p.errors.length ? null : p);
      focusFirstError(form.current);
    } finally {
      setBusy(false);
    }
  };

  if (editing && !post) {
    return (
      <>
        <PageTitle>{t('editPostTitle')}</PageTitle>
        {problem ? <ProblemAlert problem={problem} /> : <Loading />}
      </>
    );
  }
  if (post && !canEdit(post)) {
    return (
      <>
        <PageTitle>{t('editPostTitle')}</PageTitle>
        <ProblemAlert problem={t('notYourPost')} />
      </>
    );
  }

  return (
    <div class="narrow wide-ish">
      <PageTitle>{editing ? t('editPostTitle') : t('newPostTitle')}</PageTitle>
      <form ref={form} class="card form" onSubmit={submit} noValidate>
        <ProblemAlert problem={problem} />
        <Field
          id="post-title"
          label={t('title')}
          value={title}
          maxLength={TITLE_MAX}
          onInput={(e) => setTitle(e.currentTarget.value)}
          error={errors['title']}
          required
        />
        <Field
          id="post-body"
          label={t('body')}
          multiline
          rows={8}
          value={body}
          onInput={(e) => setBody(e.currentTarget.value)}
          error={errors['body']}
        />
        <FileDrop
          id="post-image"
          label={t('image')}
          accept={IMAGE_TYPES}
          hint={t('imageHint')}
          onUploaded={(upload, file) => {
            void readPreview(file).then((preview) =>
              setPictures((list) => [
                ...list,
                {
                  id: upload.id ?? '',
                  filename: upload.filename ?? file.name,
                  content_type: upload.content_type ?? file.type,
                  size: upload.size ?? file.size,
                  url: upload.url ?? '',
                  thumbnail_url: null,
                  preview,
                },
              ]),
            );
          }}
        />
        {errors['upload_ids'] && <p class="field-error">{errors['upload_ids']}</p>}
        {pictures.length > 0 && (
          <ul class="pictures" aria-label={t('attachedImages')}>
            {pictures.map((picture) => (
              <li key={picture.id}>
                {picture.preview ? (
                  <img src={picture.preview} alt="" />
                ) : (
                  <Picture
                    src={picture.thumbnail_url ?? picture.url}
                    alt=""
                    fallback={<span class="picture-placeholder" aria-hidden="true" />}
                  />
                )}
                <span class="picture-name">
                  {picture.filename || t('image')}
                  {picture.size > 0 && <small> · {formatBytes(picture.size)}</small>}
                </span>
                <button
                  type="button"
                  class="button-small button-secondary"
                  aria-label={t('removeImage', { name: picture.filename || t('image') })}
                  onClick={() => setPictures((list) => list.filter((p) => p.id !== picture.id))}
                >
                  {t('remove')}
                </button>
              </li>
            ))}
          </ul>
        )}
        <div class="actions">
          <button type="submit" disabled={busy}>
            {editing ? t('save') : t('publish')}
          </button>
          {editing && post && (
            <button type="button" class="button-danger" onClick={() => void deletePost(post, setProblem)}>
              {t('delete')}
            </button>
          )}
          <a href={editing ? `/posts/${id}` : '/'}>{t('cancel')}</a>
        </div>
      </form>
    </div>
  );
}
