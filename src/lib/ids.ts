import { createHash, randomBytes } from 'node:crypto';

/** A random id safe in URLs, headers and BullMQ job ids (no ':' and never all digits). */
export function randomId(bytes = 12): string {
  return `r${randomBytes(bytes).toString('base64url')}`;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
