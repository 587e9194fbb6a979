import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, MailroomError } from '../../src/lib/index.ts';
import type { Db } from '../../src/store/index.ts';
import { addUser, login, makeWeb, NOW, seedConversation, type TestWeb } from './helpers.ts';

let web: TestWeb | undefined;
afterEach(async () => {
  await web?.app.close();
  web?.db.close();
  web = undefined;
});

/** A staff reply in the conversation, with its outbox row in `status`. */
function outgoing(db: Db, conversationId: number, status: string, response: string | null, n: number) {
  const mid = `reply-${n}@mr.shop.example`;
  const messageId = Number(
    db
      .prepare(
        `INSERT INTO messages (conversation_id, direction, message_id, dedupe_key, from_addr, to_addrs, subject,
           received_at, text_body, author)
         VALUES (?, 'out', ?, ?, 'support@shop.example', '["customer@example.com"]', 'Re: teapot', ?, 'Our answer', 'sam')`,
      )
      .run(conversationId, mid, `out-${n}`, NOW + n).lastInsertRowid,
  );
  const outboxId = Number(
    db
      .prepare(
        `INSERT INTO outbox (kind, conversation_id, to_addr, from_addr, envelope_from, subject, message_id, raw,
           status, last_response, idempotency_key, created_at, updated_at)
         VALUES ('staff_reply', ?, 'customer@example.com', 'support@shop.example', 'support@shop.example',
           'Re: teapot', ?, x'00', ?, ?, ?, ?, ?)`,
      )
      .run(conversationId, mid, status, response, `key-${n}`, NOW, NOW).lastInsertRowid,
  );
  return { messageId, outboxId };
}

/** Posts the Send again form of an outgoing message as a signed-in staff member. */
function sendAgainForm(
  w: TestWeb,
  conversationId: number,
  mid: number,
  as: { cookie: string; csrf: string },
) {
  return w.app.inject({
    method: 'POST',
    url: `/c/${conversationId}/m/${mid}/send-again`,
    headers: { cookie: as.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    payload: `_csrf=${encodeURIComponent(as.csrf)}`,
  });
}

describe('delivery of outgoing mail in the conversation', () => {
  it('shows each reply’s delivery state, with the server’s answer and Send again where it failed or may not have arrived', async () => {
    const calls: Array<{ outboxId: number; by: string }> = [];
    web = await makeWeb({ sendAgain: async (input) => void calls.push(input) });
    await addUser(web.db, 'sam', 'agent', ['sales']);
    const { conversationId } = seedConversation(web.db, { department: 'sales', subject: 'Teapot' });
    const sent = outgoing(web.db, conversationId, 'sent', '250 2.0.0 queued as 1A2B', 1);
    const cut = outgoing(web.db, conversationId, 'uncertain', 'no reply after DATA: connection closed', 2);
    const bounced = outgoing(
      web.db,
      conversationId,
      'failed',
      '550 5.1.1 <customer@example.com>: no such user',
      3,
    );
    const sam = await login(web.app, 'sam');
    const page = await web.app.inject({ url: `/c/${conversationId}`, headers: { cookie: sam.cookie } });
    expect(page.statusCode).toBe(200);
    const block = (id: number) =>
      new RegExp(`id="delivery-${id}"[\\s\\S]*?</div>`).exec(page.body)?.[0] ?? '';
    expect(block(sent.messageId)).toContain('Accepted by the mail server.');
    expect(block(sent.messageId)).not.toContain('send-again');
    expect(block(cut.messageId)).toContain('May not have arrived');
    expect(block(cut.messageId)).toContain('no reply after DATA');
    expect(block(cut.messageId)).toContain(`/c/${conversationId}/m/${cut.messageId}/send-again`);
    expect(block(bounced.messageId)).toContain('Not delivered.');
    expect(block(bounced.messageId)).toContain('550 5.1.1 &lt;customer@example.com&gt;: no such user');

    const post = (mid: number, csrf: string) =>
      sendAgainForm(web as TestWeb, conversationId, mid, { cookie: sam.cookie, csrf });
    expect((await post(cut.messageId, 'wrong'))?.statusCode).toBe(403);
    expect(calls).toEqual([]);
    const res = await post(cut.messageId, sam.csrf);
    expect(res?.statusCode).toBe(303);
    expect(res?.headers.location).toBe(`/c/${conversationId}?sentAgain=1#m${cut.messageId}`);
    expect(calls).toEqual([{ outboxId: cut.outboxId, by: 'sam' }]);
    // The customer's own message is not ours to send.
    const inbound = (
      web.db
        .prepare("SELECT id FROM messages WHERE conversation_id = ? AND direction = 'in'")
        .get(conversationId) as {
        id: number;
      }
    ).id;
    expect((await post(inbound, sam.csrf))?.statusCode).toBe(404);
    expect(calls).toHaveLength(1);
  });

  it('an agent of another department cannot send another department’s mail again', async () => {
    const calls: unknown[] = [];
    web = await makeWeb({ sendAgain: async (input) => void calls.push(input) });
    await addUser(web.db, 'mia', 'agent', ['pr']);
    const { conversationId } = seedConversation(web.db, { department: 'hr', subject: 'Private' });
    const cut = outgoing(web.db, conversationId, 'uncertain', null, 1);
    const mia = await login(web.app, 'mia');
    const res = await sendAgainForm(web, conversationId, cut.messageId, mia);
    expect(res.statusCode).toBe(404);
    expect(calls).toEqual([]);
  });

  it('says why when sending again is refused', async () => {
    web = await makeWeb({
      sendAgain: async () => {
        throw new MailroomError(
          ErrorCodes.CONFLICT,
          'x@example.com is on the suppression list (hard_bounce)',
        );
      },
    });
    await addUser(web.db, 'sam', 'agent', ['sales']);
    const { conversationId } = seedConversation(web.db, { department: 'sales', subject: 'Teapot' });
    const bounced = outgoing(web.db, conversationId, 'failed', '550 no such user', 1);
    const sam = await login(web.app, 'sam');
    const res = await sendAgainForm(web, conversationId, bounced.messageId, sam);
    expect(res.statusCode).toBe(303);
    const page = await web.app.inject({
      url: res.headers.location as string,
      headers: { cookie: sam.cookie },
    });
    expect(page.body).toContain('is on the suppression list (hard_bounce)');
  });
});
