import { createReadStream } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Departments, Urgencies } from '../../config/index.ts';
import { storedBlobPath } from '../../ingest/index.ts';
import { ErrorCodes, errorMessage, isMailroomError, MailroomError } from '../../lib/index.ts';
import { visibleDepartments } from '../auth/users.ts';
import { sendMessage, sendPage, staffOf, type WebContext } from '../context.ts';
import { translate } from '../i18n/messages.ts';
import { addNote, assign, merge, parseLocalTime, setField, setStatus, usersWhoSee } from './actions.ts';
import { loadCustomerPanel } from './customer-panel.ts';
import {
  loadCustomer,
  loadDecision,
  loadMessages,
  loadNotes,
  loadSla,
  loadTimeline,
  visibleConversation,
} from './load.ts';
import { frameCsp, frameDocument, hasRemoteImages, sanitiseMailHtml } from './sanitise.ts';

type Params = { id: string };
const field = (req: FastifyRequest, name: string): string => {
  const v = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : '';
};

/** Content types a browser may be handed as is; anything else downloads as bytes. */
const SAFE_TYPES = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'application/pdf',
  'text/plain',
]);

/** An ASCII-only name for Content-Disposition, plus the RFC 6266/5987 UTF-8 form for the real name. */
export function contentDisposition(name: string): string {
  const clean = name.replace(/[\u0000-\u001f\u007f/\\]/g, '_').slice(0, 200) || 'attachment';
  const ascii = clean.replace(/[^\x20-\x7e]/g, '_').replace(/["%;]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(clean)}`;
}

export function registerConversationRoutes(app: FastifyInstance, ctx: WebContext): void {
  const { db } = ctx;

  const load = (req: FastifyRequest<{ Params: Params }>) =>
    visibleConversation(db, staffOf(req).user, Number(req.params.id));

  app.get<{ Params: Params }>('/c/:id', async (req, reply) => {
    const c = load(req);
    if (!c) return sendMessage(ctx, req, reply, 404, 'not_found');
    const { user } = staffOf(req);
    const now = ctx.clock.now();
    const messages = loadMessages(db, c.id);
    const q = req.query as Record<string, string | undefined>;
    return sendPage(ctx, req, reply, 'conversation', 'inbox', {
      c: { ...c, tags: JSON.parse(c.tags) as string[] },
      messages,
      decision: loadDecision(db, ctx.features, c.id),
      sla: loadSla(db, ctx.features, c.id, now),
      slaWired: ctx.features.slaClocks,
      customer: loadCustomer(db, c.customer_id, visibleDepartments(user)),
      customerPanel: loadCustomerPanel(db, c.customer_id, visibleDepartments(user)),
      notes: loadNotes(db, c.id),
      timeline: loadTimeline(db, c.id),
      departments: (visibleDepartments(user) ?? Departments).map((d) => ({
        value: d,
        label: translate(user.locale, d),
        selected: d === c.department,
      })),
      urgencies: Urgencies.map((u) => ({
        value: u,
        label: translate(user.locale, u),
        selected: u === c.urgency,
      })),
      users: usersWhoSee(db, c.department).map((u) => ({ username: u.username })),
      replyWired: Boolean(ctx.deps.sendReply),
      canned: ctx.deps.cannedReplies ? await ctx.deps.cannedReplies(user.locale) : [],
      isClosed: c.status === 'closed',
      sent: q.sent === '1',
      sentAgain: q.sentAgain === '1',
      error: typeof q.error === 'string' ? q.error.slice(0, 300) : null,
    });
  });

  app.get<{ Params: Params & { mid: string } }>('/c/:id/m/:mid/body', async (req, reply) => {
    const c = load(req);
    if (!c) return sendMessage(ctx, req, reply, 404, 'not_found');
    const m = db
      .prepare('SELECT html_body FROM messages WHERE id = ? AND conversation_id = ?')
      .get(Number(req.params.mid), c.id) as { html_body: string | null } | undefined;
    if (!m?.html_body) return sendMessage(ctx, req, reply, 404, 'not_found');
    const remote = (req.query as { images?: string }).images === '1';
    const html = sanitiseMailHtml(m.html_body, { remoteImages: remote });
    reply.header('content-security-policy', frameCsp(remote));
    reply.header('x-frame-options', 'SAMEORIGIN');
    reply.header('x-remote-images', hasRemoteImages(m.html_body) ? 'held' : 'none');
    return reply.type('text/html; charset=utf-8').send(frameDocument(html));
  });

  app.get<{ Params: Params }>('/attachments/:id', async (req, reply) => {
    const a = db
      .prepare(
        `SELECT a.sha256, a.filename, a.content_type, a.size, m.conversation_id FROM attachments a
         JOIN messages m ON m.id = a.message_id WHERE a.id = ?`,
      )
      .get(Number(req.params.id)) as
      | {
          sha256: string;
          filename: string | null;
          content_type: string;
          size: number;
          conversation_id: number;
        }
      | undefined;
    if (
      !a ||
      !visibleConversation(db, staffOf(req).user, a.conversation_id) ||
      !/^[0-9a-f]{64}$/.test(a.sha256)
    )
      return sendMessage(ctx, req, reply, 404, 'not_found');
    // The blob store's own lookup: this route looked in the first layout only, so every attachment
    // stored since the store went to one level of directories was a 404.
    const file = storedBlobPath(ctx.deps.config.paths.blobDir, a.sha256, 'file');
    if (!file) return sendMessage(ctx, req, reply, 404, 'not_found');
    reply.header('content-disposition', contentDisposition(a.filename ?? 'attachment'));
    reply.header('content-security-policy', "sandbox; default-src 'none'");
    reply.type(SAFE_TYPES.has(a.content_type.toLowerCase()) ? a.content_type : 'application/octet-stream');
    return reply.send(createReadStream(file));
  });

  const action = (
    name: string,
    run: (
      req: FastifyRequest<{ Params: Params }>,
      c: NonNullable<ReturnType<typeof load>>,
    ) => Promise<string | undefined> | string | undefined,
  ) => {
    app.post<{ Params: Params }>(`/c/:id/${name}`, async (req, reply: FastifyReply) => {
      const c = load(req);
      if (!c) return sendMessage(ctx, req, reply, 404, 'not_found');
      try {
        const suffix = (await run(req, c)) ?? '';
        return reply.redirect(`/c/${c.id}${suffix}`, 303);
      } catch (e) {
        if (isMailroomError(e, 'NOT_FOUND')) return sendMessage(ctx, req, reply, 404, 'not_found', e.message);
        if (isMailroomError(e))
          return reply.redirect(`/c/${c.id}?error=${encodeURIComponent(e.message)}`, 303);
        throw e;
      }
    });
  };

  action('reply', async (req, c) => {
    const text = field(req, 'text').trim();
    if (!text) return `?error=${encodeURIComponent('the reply is empty')}`;
    if (!ctx.deps.sendReply)
      return `?error=${encodeURIComponent(translate(staffOf(req).user.locale, 'reply_not_wired'))}`;
    const author = staffOf(req).user.username;
    try {
      const res = await ctx.deps.sendReply({ conversationId: c.id, author, text });
      req.log.info({ conversationId: c.id, outboxId: res.outboxId, user: author }, 'reply queued');
    } catch (e) {
      req.log.warn({ conversationId: c.id, err: errorMessage(e) }, 'reply failed');
      return `?error=${encodeURIComponent(errorMessage(e))}`;
    }
    return '?sent=1';
  });
  action('m/:mid/send-again', async (req, c) => {
    const { user } = staffOf(req);
    const mid = Number((req.params as { mid?: string }).mid);
    const row = db
      .prepare(
        `SELECT o.id FROM messages m JOIN outbox o ON o.message_id = m.message_id
         WHERE m.id = ? AND m.conversation_id = ? AND m.direction = 'out'`,
      )
      .get(Number.isSafeInteger(mid) ? mid : 0, c.id) as { id: number } | undefined;
    if (!row) throw new MailroomError(ErrorCodes.NOT_FOUND, 'no such outgoing mail in this conversation');
    if (!ctx.deps.sendAgain) return `?error=${encodeURIComponent(translate(user.locale, 'reply_not_wired'))}`;
    await ctx.deps.sendAgain({ outboxId: row.id, by: user.username });
    return `?sentAgain=1#m${mid}`;
  });
  action('note', (req, c) => {
    addNote(db, c, staffOf(req).user, field(req, 'body'), ctx.clock.now());
    return undefined;
  });
  action('assign', (req, c) => {
    const who = field(req, 'assignee') === '@me' ? staffOf(req).user.username : field(req, 'assignee');
    assign(db, c, staffOf(req).user, who, ctx.clock.now());
    return undefined;
  });
  for (const f of ['department', 'urgency'] as const) {
    action(f, async (req, c) => {
      const user = staffOf(req).user;
      const to = field(req, f);
      if (f === 'department' && visibleDepartments(user)?.includes(to) === false) {
        return `?error=${encodeURIComponent(`you cannot move conversations to ${to}`)}`;
      }
      const from = setField(db, c, user, f, to, ctx.clock.now());
      if (from !== null && ctx.deps.onCorrection) {
        await ctx.deps.onCorrection({ conversationId: c.id, field: f, from, to, user: user.username });
      }
      return undefined;
    });
  }
  action('snooze', (req, c) => {
    setStatus(db, c, staffOf(req).user, 'snoozed', ctx.clock.now(), parseLocalTime(field(req, 'until')));
    return undefined;
  });
  action('close', (req, c) => {
    setStatus(db, c, staffOf(req).user, 'closed', ctx.clock.now());
    return undefined;
  });
  action('reopen', (req, c) => {
    setStatus(db, c, staffOf(req).user, 'open', ctx.clock.now());
    return undefined;
  });
  action('merge', (req, c) => {
    merge(db, c, staffOf(req).user, Number(field(req, 'source').replace(/^#/, '')), ctx.clock.now());
    return undefined;
  });
}
