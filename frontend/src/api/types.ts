// Short names for the API's schemas, as the pages use them.
import type { components } from './schema';

type Schemas = components['schemas'];
export type User = Schemas['UserOut'];
export type UserItem = Schemas['UserItemOut'];
export type Upload = Schemas['UploadOut'];
export type Post = Schemas['PostOut'];
export type PostItem = Schemas['PostItemOut'];
export type Job = Schemas['JobOut'];
export type JobStatus = NonNullable<Job['status']>;
export type JobOwner = Schemas['AuthorOut'];
// The server sends every field of these; the document marks output fields optional only
// because the schemas list no required ones.
export type Attachment = Required<Schemas['AttachmentOut']>;
export type DevMail = Required<Schemas['MailOut']>;

export const TERMINAL: ReadonlySet<string> = new Set(['finished', 'failed', 'canceled']);

/** The post's attachments, in the order of its `upload_ids`. */
export function attachmentsOf(post: Post | PostItem): Attachment[] {
  return (post.attachments ?? []) as Attachment[];
}

export function isImage(attachment: Attachment): boolean {
  return attachment.content_type.startsWith('image/');
}
