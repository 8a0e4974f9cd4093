// Short names for the API's schemas, as the pages use them.
import type { components } from './schema';
import type { Attachment, JobOwner } from './pending';

type Schemas = components['schemas'];
export type User = Schemas['UserOut'];
export type UserItem = Schemas['UserItemOut'];
export type Upload = Schemas['UploadOut'];
export type Post = Schemas['PostOut'] & { attachments?: Attachment[] };
export type PostItem = Schemas['PostItemOut'] & { attachments?: Attachment[] };
export type Job = Schemas['JobOut'] & { owner?: JobOwner };
export type JobStatus = NonNullable<Job['status']>;
export type { Attachment, DevMail, JobOwner } from './pending';

export const TERMINAL: ReadonlySet<string> = new Set(['finished', 'failed', 'canceled']);

/** The post's attachments; built from `upload_ids` when the server does not list them yet. */
export function attachmentsOf(post: Post | PostItem): Attachment[] {
  if (post.attachments) return post.attachments;
  return (post.upload_ids ?? []).map((id) => ({
    id,
    filename: '',
    content_type: '',
    size: 0,
    url: `/api/v1/uploads/${id}`,
    thumbnail_url: null,
  }));
}

export function isImage(attachment: Attachment): boolean {
  return attachment.content_type === '' || attachment.content_type.startsWith('image/');
}
