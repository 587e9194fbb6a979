import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import type { OrderIntake } from '../../automations/index.ts';
import { type Clock, isMailroomError, type Logger } from '../../lib/index.ts';
import { verifySignedRequest } from './signature.ts';

export interface OrdersApiDeps {
  intake: OrderIntake;
  clock: Clock;
  logger: Logger;
  /** config.credentials.apiKey; when unset the API answers 503 so a half-configured shop notices. */
  apiKey: string | undefined;
  /** HMAC key; defaults to the API key. A separate secret keeps signing safe if the key leaks in a log. */
  signingSecret?: string | undefined;
  /** Largest accepted body; default 1 MiB. */
  bodyLimit?: number;
}

const STATUS: Record<string, number> = {
  VALIDATION: 400,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  SIGNATURE_INVALID: 401,
  NOT_FOUND: 404,
  CONFLICT: 409,
};

function sendError(reply: FastifyReply, status: number, code: string, message: string, issues?: unknown) {
  return reply.code(status).send({ error: { code, message, ...(issues ? { issues } : {}) } });
}

function parseJson(raw: string): unknown {
  try {
    return raw.trim() === '' ? {} : (JSON.parse(raw) as unknown);
  } catch (e) {
    return { __invalidJson: (e as Error).message };
  }
}

/**
 * The order API for shops: POST /api/orders (create or update) and POST /api/orders/:id/events.
 * Bodies stay raw strings until the signature over them is checked, so nothing unsigned is parsed.
 */
export function ordersApi(deps: OrdersApiDeps): FastifyPluginAsync {
  const log = deps.logger.child({ component: 'orders-api' });
  return async (app: FastifyInstance) => {
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser(
      'application/json',
      { parseAs: 'string', bodyLimit: deps.bodyLimit ?? 1024 * 1024 },
      (_req, body, done) => done(null, body),
    );

    app.setErrorHandler((err: FastifyError, req, reply) => {
      if (isMailroomError(err)) {
        const status = STATUS[err.code] ?? 500;
        if (status >= 500) log.error({ err, url: req.url }, 'order api failed');
        else log.info({ code: err.code, url: req.url }, 'order api refused request');
        return sendError(reply, status, err.code, err.message, err.details?.issues);
      }
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) log.error({ err, url: req.url }, 'order api failed');
      return sendError(
        reply,
        status,
        err.code ?? 'INTERNAL',
        status === 500 ? 'internal error' : err.message,
      );
    });

    app.addHook('preHandler', async (req, reply) => {
      if (!deps.apiKey) {
        return sendError(
          reply,
          503,
          'API_DISABLED',
          'the order API is off: set the API key (MAILROOM_API_KEY)',
        );
      }
      if (typeof req.body !== 'string') {
        return sendError(
          reply,
          415,
          'UNSUPPORTED_MEDIA_TYPE',
          'send the body as Content-Type: application/json',
        );
      }
      const header = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      verifySignedRequest(
        {
          apiKey: header('x-api-key'),
          timestamp: header('x-mailroom-timestamp'),
          signature: header('x-mailroom-signature'),
          // The request target as received (req.raw.url: path and query, percent-encoding kept),
          // so a signature made for one endpoint or order is refused on any other.
          method: req.method,
          path: req.raw.url ?? req.url,
          rawBody: req.body,
        },
        { apiKey: deps.apiKey, signingSecret: deps.signingSecret ?? deps.apiKey, now: deps.clock.now() },
      );
      const parsed = parseJson(req.body);
      if (parsed && typeof parsed === 'object' && '__invalidJson' in parsed) {
        return sendError(reply, 400, 'VALIDATION', `body is not JSON: ${String(parsed.__invalidJson)}`, [
          { path: '(body)', message: 'expected a JSON object' },
        ]);
      }
      req.body = parsed;
      return undefined;
    });

    app.post('/api/orders', async (req, reply) => {
      const res = await deps.intake.submitOrder(req.body);
      log.info({ order: res.order.external_id, created: res.created }, 'order received');
      return reply
        .code(res.created ? 201 : 200)
        .send({ created: res.created, order: publicOrder(res.order) });
    });

    app.post<{ Params: { id: string } }>('/api/orders/:id/events', async (req, reply) => {
      const res = await deps.intake.submitEvent(req.params.id, req.body);
      log.info(
        { order: res.order.external_id, type: res.type, applied: res.applied },
        'order event received',
      );
      return reply
        .code(200)
        .send({ applied: res.applied, duplicate: !res.applied, order: publicOrder(res.order) });
    });
  };
}

interface OrderLike {
  external_id: string;
  status: string;
  currency: string;
  amount_cents: number;
  created_at: number;
  paid_at: number | null;
  shipped_at: number | null;
  delivered_at: number | null;
  cancelled_at: number | null;
  refunded_at: number | null;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function publicOrder(o: OrderLike) {
  return {
    id: o.external_id,
    status: o.status,
    currency: o.currency,
    amount_cents: o.amount_cents,
    created_at: iso(o.created_at),
    paid_at: iso(o.paid_at),
    shipped_at: iso(o.shipped_at),
    delivered_at: iso(o.delivered_at),
    cancelled_at: iso(o.cancelled_at),
    refunded_at: iso(o.refunded_at),
  };
}
