import type { FastifyInstance } from 'fastify';

/**
 * Headers on every response. The CSP allows only our own script files (no inline script, no
 * eval), so injected markup cannot run code even if escaping failed somewhere. Routes that need a
 * different policy (the sandboxed mail frame, downloads) set their own first and keep it.
 */
export const STAFF_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "frame-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The policy of the bull-board dashboard (admin only, src/web/admin/bull-board.ts): a prebuilt
 * React app we do not write, so it gets STAFF_CSP relaxed in exactly two places, on its own
 * route prefix only.
 *  - base-uri 'self': its index.html sets <base href="/admin/queues/bull/">; its scripts, styles
 *    and API calls are relative URLs, so without the base they 404 on deep links (/queue/outbound).
 *  - style-src 'unsafe-inline': its index.html styles the loading screen inline, and its React
 *    code inserts <style> elements at run time (React's hoisted styles, CodeMirror in the job
 *    viewer) with no nonce we could hand it; Chromium refuses seven of them per page load.
 *    Styles only: scripts stay 'self' (no inline script, no eval), and with every fetch, image
 *    and font limited to our own origin an injected style cannot send anything anywhere.
 * Its Google Fonts stylesheet stays blocked (system fonts instead: the admin's browser makes no
 * third-party request), and frame-ancestors stays 'none'.
 */
export const BULL_BOARD_CSP = STAFF_CSP.replace(
  "style-src 'self'",
  "style-src 'self' 'unsafe-inline'",
).replace("base-uri 'none'", "base-uri 'self'");

export function addSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_req, reply, payload) => {
    const set = (name: string, value: string) => {
      if (!reply.hasHeader(name)) reply.header(name, value);
    };
    set('content-security-policy', STAFF_CSP);
    set('x-frame-options', 'DENY');
    set('x-content-type-options', 'nosniff');
    set('referrer-policy', 'same-origin');
    set('cross-origin-opener-policy', 'same-origin');
    set('permissions-policy', 'camera=(), microphone=(), geolocation=()');
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html')) set('cache-control', 'no-store');
    return payload;
  });
}
