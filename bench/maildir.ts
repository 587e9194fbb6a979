// Fills a benchmark mailbox by writing maildir files straight into the harness Dovecot's mail
// store (test/harness/dovecot.ts: maildir:~/Maildir, home <dir>/mail/<user>): orders of magnitude
// faster than APPENDing 100,000 messages, and Dovecot indexes them on first access as it would any
// mail delivered by an LDA.
import { chownSync, mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DovecotInfo } from '../test/harness/dovecot.ts';

/** Size with every line ending as CRLF: what IMAP reports, and Dovecot's W= (virtual size). */
function virtualSize(raw: Buffer): number {
  let bareLf = 0;
  for (let i = raw.indexOf(10); i !== -1; i = raw.indexOf(10, i + 1))
    if (i === 0 || raw[i - 1] !== 13) bareLf++;
  return raw.length + bareLf;
}

/**
 * Writes messages 0..count-1 of `message` into user's INBOX (a new, empty maildir) and returns
 * the bytes written. Files go to cur/ with S= and W= sizes in their names, so Dovecot never has
 * to read a file to learn its size; ownership matches the harness's mail directory. A file's
 * mtime is what Dovecot reports as the message's INTERNALDATE (IMAP SEARCH SINCE): `receivedAt`.
 */
export function fillMaildir(
  dovecot: DovecotInfo,
  user: string,
  count: number,
  message: (i: number) => Buffer,
  receivedAt: (i: number) => Date,
): number {
  const mailRoot = path.join(dovecot.dir, 'mail');
  const owner = statSync(mailRoot);
  const home = path.join(mailRoot, user);
  const maildir = path.join(home, 'Maildir');
  const dirs = [home, maildir, ...['cur', 'new', 'tmp'].map((d) => path.join(maildir, d))];
  for (const d of dirs) {
    mkdirSync(d, { recursive: true });
    chownSync(d, owner.uid, owner.gid);
  }
  const cur = path.join(maildir, 'cur');
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const raw = message(i);
    const at = receivedAt(i);
    // Dovecot gives new files UIDs in the order of the time in their names: corpus order.
    const stamp = Math.floor(at.getTime() / 1000);
    const name = `${stamp}.M${String(i).padStart(7, '0')}P1.bench,S=${raw.length},W=${virtualSize(raw)}:2,`;
    const file = path.join(cur, name);
    writeFileSync(file, raw);
    chownSync(file, owner.uid, owner.gid);
    utimesSync(file, at, at);
    bytes += raw.length;
  }
  return bytes;
}
