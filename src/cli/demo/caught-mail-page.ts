import type { FastifyPluginAsync } from 'fastify';
import type { MailCatcher } from './catcher.ts';

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

function header(raw: string, name: string): string {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const m = new RegExp(`^${name}:([^\\r\\n]*(?:\\r?\\n[ \\t][^\\r\\n]*)*)`, 'im').exec(head);
  return m?.[1]?.replace(/\r?\n[ \t]+/g, ' ').trim() ?? '';
}

function decodeWords(v: string): string {
  // RFC 2047: white space between two encoded-words is not part of the text.
  return v
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?([^?]+)\?([bqBQ])\?([^?]*)\?=/g, (_m, _cs: string, enc: string, text: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(
            text
              .replace(/_/g, ' ')
              .replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
            'latin1',
          ).toString('utf8'),
    );
}

/** /demo/mail: what the demo's SMTP catcher received, newest first; /demo/mail/N shows one raw. */
export function caughtMailPage(catcher: MailCatcher): FastifyPluginAsync {
  return async (app) => {
    app.get('/', async (_req, reply) => {
      const rows = [...catcher.caught]
        .map((m, i) => ({ m, i }))
        .reverse()
        .map(
          ({ m, i }) =>
            `<tr><td>${new Date(m.at).toISOString().replace('T', ' ').slice(0, 19)}</td><td>${esc(m.to.join(', '))}</td><td><a href="/demo/mail/${i}">${esc(decodeWords(header(m.raw, 'Subject')))}</a></td><td>${esc(header(m.raw, 'Auto-Submitted'))}</td></tr>`,
        )
        .join('');
      reply.type('text/html; charset=utf-8');
      return `<!doctype html><meta charset="utf-8"><title>Caught mail</title><link rel="stylesheet" href="/static/app.css"><main class="page"><p><a href="/">← inbox</a></p><h1>Mail the demo sent (${catcher.caught.length})</h1><p>The demo's SMTP catcher keeps every mail mailroom sends; nothing leaves this machine.</p><table class="list"><thead><tr><th>time</th><th>to</th><th>subject</th><th>automatic</th></tr></thead><tbody>${rows}</tbody></table></main>`;
    });
    app.get<{ Params: { n: string } }>('/:n', async (req, reply) => {
      const m = catcher.caught[Number(req.params.n)];
      if (!m) return reply.code(404).send('no such mail');
      reply.type('text/plain; charset=utf-8');
      return m.raw;
    });
  };
}
