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
