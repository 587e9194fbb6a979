import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/config/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import {
  createRemoteSendHandler,
  createSendHandler,
  createTemplateRenderer,
  getOutbox,
  getSuppression,
  isSuppressed,
  type QueueMailInput,
  queueMail,
  type SendJobData,
  type SmtpSender,
  sendStaffReply,
} from '../../src/outbound/index.ts';
import { PermanentJobError, RetryLaterError } from '../../src/queue/index.ts';
import { type SmtpPeer, startSmtpPeer } from '../harness/index.ts';
import { jobFor, outboxDeps, parse, seedConversation } from './helpers.ts';
import { transportTo } from './smtp.ts';

let peer: SmtpPeer;
let transport: SmtpSender;
beforeEach(async () => {
  peer = await startSmtpPeer();
  transport = transportTo(peer);
});
afterEach(async () => {
  transport.close();
  await peer.close();
});

function setup() {
  const deps = outboxDeps();
  const handler = createSendHandler({ ...deps, transport, logger: silentLogger(), retryLaterMs: 10 });
  const send = (outboxId: number, attempt = 1) => {
    const row = getOutbox(deps.db, outboxId);
    const data: SendJobData = {
      outboxId,
      messageId: row?.message_id ?? '',
      envelope: { from: row?.envelope_from ?? '', to: [row?.to_addr ?? ''] },
    };
    return handler(jobFor(data, attempt));
  };
  return { deps, send };
}

/** A send job's data for a queued mail (the handler reads the envelope from the outbox row). */
const jobDataOf = (q: { outboxId: number; messageId: string }): SendJobData => ({
  outboxId: q.outboxId,
  messageId: q.messageId,
  envelope: { from: '', to: [] },
});

const mail = (key: string, extra: Partial<QueueMailInput> = {}): QueueMailInput => ({
  kind: 'test',
  idempotencyKey: key,
  to: 'Alice Chen <alice@customer.example>',
  subject: 'Your order',
  html: '<p>Hello</p>',
  text: 'Hello\n',
  ...extra,
});

async function thrown(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('sending through the real SMTP peer', () => {
  it('every shipped template arrives as multipart/alternative UTF-8 with its subject and our Message-ID', async () => {
    const { deps, send } = setup();
    const r = createTemplateRenderer({
      dir: path.join(PROJECT_ROOT, 'templates'),
      publicUrl: 'https://shop.example',
    });
    const all = r.list();
    const ids: Array<{ id: number; subject: string; template: string }> = [];
    for (const t of all) {
      const m = r.renderTemplate(t.template, t.locale, r.sample(t.template, t.locale));
      const q = await queueMail(
        deps,
        mail(`${t.locale}-${t.template}`, { kind: t.template, ...m, automatic: 'auto-generated' }),
      );
      ids.push({ id: q.outboxId, subject: m.subject, template: t.template });
    }
    for (const x of ids) expect((await send(x.id)).status).toBe('sent');
    const got = await peer.waitFor(all.length);
    expect(got).toHaveLength(all.length);
    for (const x of ids) {
      const row = getOutbox(deps.db, x.id);
      const rec = got.find((g) => g.raw.includes(`<${row?.message_id}>`));
      expect(rec, x.template).toBeDefined();
      const p = await parse(rec?.raw ?? '');
      expect(p.subject).toBe(x.subject);
      expect(p.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' });
      expect(p.html).toContain('<!doctype html>');
      expect(p.text?.length).toBeGreaterThan(20);
      expect(p.from?.value[0]?.address).toBe('support@shop.example');
      expect(p.headers.get('auto-submitted')).toBe('auto-generated');
      expect(rec?.raw).toMatch(/charset=utf-8/i);
      expect(row).toMatchObject({ status: 'sent', send_stage: 'done', attempts: 1 });
      expect(row?.last_response).toMatch(/^250 /);
    }
  });

  it('a staff reply threads onto the customer’s message and is stored as an outgoing message', async () => {
    const { deps, send } = setup();
    const c = seedConversation(deps.db, {
      messageId: 'q1@customer.example',
      refs: ['root@customer.example'],
    });
    const q = await sendStaffReply(deps, {
      conversationId: c.conversationId,
      author: 'mei',
      text: 'It ships today.\n\nMei',
    });
    await send(q.outboxId);
    const [rec] = await peer.waitFor(1);
    const p = await parse(rec?.raw ?? '');
    expect(p.inReplyTo).toBe('<q1@customer.example>');
    expect(p.references).toEqual(['<root@customer.example>', '<q1@customer.example>']);
    expect(p.subject).toBe(`Re: Where is my parcel? [#MR-${c.conversationId}]`);
    expect(p.headers.get('auto-submitted')).toBeUndefined();
    expect(p.html).toContain('<p>It ships today.</p>');
    const out = deps.db
      .prepare("SELECT message_id, in_reply_to, author, text_body FROM messages WHERE direction = 'out'")
      .all();
    expect(out).toEqual([
      {
        message_id: q.messageId,
        in_reply_to: 'q1@customer.example',
        author: 'mei',
        text_body: 'It ships today.\n\nMei\n',
      },
    ]);
  });

  it('the same idempotency key queues one mail, however often it is asked for', async () => {
    const { deps, send } = setup();
    const a = await queueMail(deps, mail('order-1-confirmation'));
    const b = await queueMail(deps, mail('order-1-confirmation', { subject: 'changed' }));
    expect(b).toMatchObject({ outboxId: a.outboxId, messageId: a.messageId, created: false });
    await send(a.outboxId);
    expect((await send(a.outboxId)).status).toBe('skipped');
    await peer.waitFor(1);
    expect(peer.received).toHaveLength(1);
  });

  it('421 asks to retry later, 451 retries with backoff; then the mail goes out once', async () => {
    const { deps, send } = setup();
    const q = await queueMail(deps, mail('k421'));
    peer.setFaults([
      { kind: 'reply', stage: 'mail', code: 421, message: 'Too many connections, try later', times: 1 },
      { kind: 'reply', stage: 'data', code: 451, message: 'Temporary local problem', times: 1 },
    ]);
    const e1 = await thrown(send(q.outboxId, 1));
    expect(e1).toBeInstanceOf(RetryLaterError);
    expect(getOutbox(deps.db, q.outboxId)).toMatchObject({ status: 'queued', send_stage: 'none' });
    const e2 = await thrown(send(q.outboxId, 2));
    expect(e2).not.toBeInstanceOf(PermanentJobError);
    expect(e2.message).toContain('451');
    // 451 came after DATA ended: the server said it kept nothing, so resending is safe.
    expect(getOutbox(deps.db, q.outboxId)).toMatchObject({ status: 'queued', send_stage: 'none' });
    expect((await send(q.outboxId, 3)).status).toBe('sent');
    await peer.waitFor(1);
    expect(peer.received).toHaveLength(1);
    expect(getOutbox(deps.db, q.outboxId)).toMatchObject({ status: 'sent', attempts: 3 });
  });

  it('550 to RCPT fails the row for good and suppresses the address; later mail to it is not queued', async () => {
    const { deps, send } = setup();
    const q = await queueMail(deps, mail('k550'));
    peer.setFaults([
      { kind: 'reply', stage: 'rcpt', code: 550, message: '5.1.1 No such user here', times: 1 },
    ]);
    const e = await thrown(send(q.outboxId));
    expect(e).toBeInstanceOf(PermanentJobError);
    const row = getOutbox(deps.db, q.outboxId);
    expect(row?.status).toBe('failed');
    expect(row?.last_response).toContain('5.1.1 No such user here');
    expect(getSuppression(deps.db, 'ALICE@customer.example')).toMatchObject({ reason: 'hard_bounce' });
    expect(isSuppressed(deps.db, 'alice@customer.example', 'transactional')).toBe(true);
    const next = await queueMail(deps, mail('k550-2'));
    expect(next.status).toBe('suppressed');
    expect(await deps.queue.counts('outbound')).toMatchObject({ waiting: 1 });
  });

  it('a policy rejection (550 5.7.1 to DATA) fails the row but does not suppress the recipient', async () => {
    const { deps, send } = setup();
    const q = await queueMail(deps, mail('k571'));
    peer.setFaults([
      { kind: 'reply', stage: 'data', code: 550, message: '5.7.1 Message rejected as spam', times: 1 },
    ]);
    expect(await thrown(send(q.outboxId))).toBeInstanceOf(PermanentJobError);
    expect(getOutbox(deps.db, q.outboxId)?.status).toBe('failed');
    expect(isSuppressed(deps.db, 'alice@customer.example', 'marketing')).toBe(false);
  });

  it('a network error before DATA (server down) leaves the row queued for a retry', async () => {
    const { deps, send } = setup();
    const q = await queueMail(deps, mail('kdown'));
    await peer.close();
    const e = await thrown(send(q.outboxId, 1));
    expect(e).not.toBeInstanceOf(PermanentJobError);
    expect(e).not.toBeInstanceOf(RetryLaterError);
    expect(getOutbox(deps.db, q.outboxId)).toMatchObject({
      status: 'queued',
      send_stage: 'none',
      attempts: 1,
    });
    peer = await startSmtpPeer();
    transport.close();
    transport = transportTo(peer);
    const again = createSendHandler({ ...deps, transport, logger: silentLogger() });
    const row = getOutbox(deps.db, q.outboxId);
    const res = await again(
      jobFor({ outboxId: q.outboxId, messageId: row?.message_id ?? '', envelope: { from: '', to: [] } }, 2),
    );
    expect(res.status).toBe('sent');
    expect(await peer.waitFor(1)).toHaveLength(1);
  });

  it('a row left at data_sent by a dead worker is marked uncertain and never sent again', async () => {
    const { deps, send } = setup();
    const q = await queueMail(deps, mail('kcrash'));
    // The state a worker killed after handing over the last byte of DATA leaves behind.
    deps.db
      .prepare("UPDATE outbox SET status = 'sending', send_stage = 'data_sent' WHERE id = ?")
      .run(q.outboxId);
    expect((await send(q.outboxId, 2)).status).toBe('uncertain');
    expect(getOutbox(deps.db, q.outboxId)?.status).toBe('uncertain');
    expect((await send(q.outboxId, 3)).status).toBe('skipped');
    expect(peer.received).toHaveLength(0);
  });

  it('on the embedded queue the outbox row and its send job are one commit: neither without the other', async () => {
    const { deps } = setup();
    const jobs = () => (deps.db.prepare('SELECT count(*) AS n FROM jobs').get() as { n: number }).n;
    const rows = () => (deps.db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
    deps.db.exec(
      "CREATE TEMP TRIGGER no_jobs BEFORE INSERT ON jobs BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    );
    await expect(queueMail(deps, mail('kfull'))).rejects.toThrow(/disk full/);
    expect([rows(), jobs()]).toEqual([0, 0]);
    deps.db.exec('DROP TRIGGER no_jobs');
    const q = await queueMail(deps, mail('kfull'));
    expect(q.created).toBe(true);
    expect([rows(), jobs()]).toEqual([1, 1]);
  });

  it('where the queue commits "sent" with the job, a mail accepted but not yet recorded is never sent again', async () => {
    const { deps } = setup();
    const handler = createSendHandler({ ...deps, transport, logger: silentLogger() });
    const q = await queueMail(deps, mail('kdeferred'));
    const data = jobDataOf(q);
    // A driver that records 'sent' with the job's completion, killed before that commit.
    const pending: Array<() => void> = [];
    const job = { ...jobFor(data, 1), atCompletion: (fn: () => void) => void pending.push(fn) };
    expect((await handler(job)).status).toBe('sent');
    await peer.waitFor(1);
    expect(pending).toHaveLength(1);
    expect(getOutbox(deps.db, q.outboxId)).toMatchObject({ status: 'sending', send_stage: 'data_sent' });
    // The retry after the crash finds data_sent on record: uncertain, and nothing goes out again.
    expect((await handler(jobFor(data, 2))).status).toBe('uncertain');
    await new Promise((r) => setTimeout(r, 100));
    expect(peer.received).toHaveLength(1);
    // Had the completion committed, the row would read sent.
    const other = await queueMail(deps, mail('kdeferred-2'));
    const fns: Array<() => void> = [];
    const d2 = jobDataOf(other);
    await handler({ ...jobFor(d2, 1), atCompletion: (fn: () => void) => void fns.push(fn) });
    for (const fn of fns) fn();
    expect(getOutbox(deps.db, other.outboxId)).toMatchObject({
      status: 'sent',
      send_stage: 'done',
      attempts: 1,
    });
  });

  it("a try counts once, whether the queue's claim or the handler marks the row 'sending'", async () => {
    const { deps } = setup();
    const handler = createSendHandler({ ...deps, transport, logger: silentLogger() });
    const byClaim = await queueMail(deps, mail('kclaim'));
    const data = jobDataOf(byClaim);
    const job = jobFor(data, 1);
    handler.onClaim?.(job);
    expect(getOutbox(deps.db, byClaim.outboxId)).toMatchObject({ status: 'sending', attempts: 1 });
    expect((await handler(job)).status).toBe('sent');
    expect(getOutbox(deps.db, byClaim.outboxId)).toMatchObject({ status: 'sent', attempts: 1 });
    // The claim hook never touches a row that is done, or that a dead try left at data_sent.
    handler.onClaim?.(jobFor(data, 2));
    expect(getOutbox(deps.db, byClaim.outboxId)).toMatchObject({ status: 'sent', attempts: 1 });
    const byHandler = await queueMail(deps, mail('khandler'));
    await handler(jobFor({ ...data, outboxId: byHandler.outboxId, messageId: byHandler.messageId }, 1));
    expect(getOutbox(deps.db, byHandler.outboxId)).toMatchObject({ status: 'sent', attempts: 1 });
    await peer.waitFor(2);
  });

  it('send handlers take at most two jobs per connection of their transport at once', () => {
    const { deps } = setup();
    const two = transportTo(peer, 2);
    try {
      expect(createSendHandler({ ...deps, transport: two, logger: silentLogger() }).maxConcurrency).toBe(4);
      expect(createRemoteSendHandler({ transport: two, logger: silentLogger() }).maxConcurrency).toBe(4);
      // A sender without a known limit leaves the worker's concurrency alone.
      const unlimited: SmtpSender = { sendRaw: two.sendRaw, close: () => {} };
      expect(
        createSendHandler({ ...deps, transport: unlimited, logger: silentLogger() }).maxConcurrency,
      ).toBe(undefined);
    } finally {
      two.close();
    }
  });
});
