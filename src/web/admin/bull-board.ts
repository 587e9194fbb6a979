import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { BULL_BOARD_CSP } from '../security-headers.ts';

/** Where the dashboard lives; the admin scope it is registered in checks login and role first. */
export const BULL_BOARD_PATH = '/admin/queues/bull';

/**
 * bull-board, the BullMQ dashboard, for admins when the queue driver is BullMQ. Registered inside
 * the admin scope, so the staff guard runs first on every route of it (pages, static files, API):
 * no session -> login, not an admin -> 403.
 *
 * Read-only: mailroom's jobs carry their own bookkeeping (the outbox row, the result reported
 * back through `<queue>.results`), so retrying, promoting or deleting a job by hand would go
 * around it. And the staff guard wants our CSRF token on every POST/PUT, which bull-board's
 * client never sends, so its action buttons could not work anyway; read-only hides them.
 */
export function registerBullBoard(app: FastifyInstance, queues: Queue[]): void {
  app.register(async (scope) => {
    // Loaded here: bull-board (and the bullmq it requires) only where the BullMQ driver runs.
    const [{ createBullBoard }, { BullMQAdapter }, { FastifyAdapter }] = await Promise.all([
      import('@bull-board/api'),
      import('@bull-board/api/bullMQAdapter'),
      import('@bull-board/fastify'),
    ]);
    const adapter = new FastifyAdapter();
    adapter.setBasePath(BULL_BOARD_PATH);
    createBullBoard({
      queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
      serverAdapter: adapter,
      options: {
        uiConfig: {
          boardTitle: 'mailroom queues',
          hideDocsLink: true,
          miscLinks: [{ text: 'mailroom: health', url: '/admin/health#queues' }],
        },
      },
    });
    // preHandler, not onRequest: it runs after the guard, so only an admin's response carries the
    // relaxed policy (a redirect or 403 page keeps STAFF_CSP). The root onSend hook keeps it.
    scope.addHook('preHandler', async (_req, reply) => {
      reply.header('content-security-policy', BULL_BOARD_CSP);
    });
    await scope.register(adapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
  });
}
