import type { FastifyInstance } from 'fastify';
import { type ListsDeps, recordClick, recordOpen } from '../../lists/index.ts';

/** A 1x1 transparent GIF (43 bytes). */
export const PIXEL_GIF = Buffer.from(
  'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==',
  'base64',
);

const BAD_LINK = 'This link is not valid. Use the link from the mail.';

/**
 * Open pixel and click redirect for campaigns with tracking on. No login: the per-send token names
 * the send, and a click link's signature binds its target, so this is never an open redirect.
 */
export function listsTrackingRoutes(app: FastifyInstance, deps: ListsDeps): void {
  // Always the same answer, so the pixel tells nobody whether a token is real.
  app.get<{ Params: { token: string } }>('/t/o/:token.gif', async (req, reply) => {
    try {
      recordOpen(deps, req.params.token);
    } catch (e) {
      req.log.warn({ err: e }, 'recording an open failed');
    }
    reply.header('Cache-Control', 'no-store');
    reply.type('image/gif');
    return PIXEL_GIF;
  });

  app.get<{ Params: { token: string }; Querystring: { u?: unknown; s?: unknown } }>(
    '/t/c/:token',
    async (req, reply) => {
      const { u, s } = req.query;
      const res =
        typeof u === 'string' && typeof s === 'string'
          ? recordClick(deps, req.params.token, u, s)
          : ({ ok: false } as const);
      reply.header('Cache-Control', 'no-store');
      if (!res.ok) {
        reply.code(400).type('text/plain; charset=utf-8');
        return BAD_LINK;
      }
      return reply.redirect(res.url, 302);
    },
  );
}
