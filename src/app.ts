import type { FastifyInstance } from 'fastify';
import { createDataRights } from './app/data-rights.ts';
import { createIngestHooks } from './app/ingest-hooks.ts';
import { createMailServices, type MailServices, publicUrl } from './app/mail-services.ts';
import { slaEscalationNotifier } from './app/sla-escalation.ts';
import {
  AUTOMATIONS_QUEUE,
  type Automations,
  createAutomations,
  createOrderIntake,
  type OrderIntake,
} from './automations/index.ts';
import { type Config, imapCredentials, loadSessionSecret } from './config/index.ts';
import { segmentMembersFn } from './customers/index.ts';
import {
  allMailboxStatus,
  createBlobStore,
  createImapPoller,
  createIngestPipeline,
  type ImapPoller,
  type IngestPipeline,
} from './ingest/index.ts';
import { type Clock, ErrorCodes, type Logger, MailroomError, systemClock } from './lib/index.ts';
import { createLists, type Lists, listsSettingsFromConfig, SEND_QUEUE } from './lists/index.ts';
import {
  createOutboxRelay,
  createRemoteSendHandler,
  createSendHandler,
  createSmtpTransport,
  isSuppressed,
  loadCannedReplies,
  OUTBOUND_QUEUE,
  outboxResultEvents,
  type SmtpSender,
  sendAgain,
  sendStaffReply,
} from './outbound/index.ts';
import { bullmqQueuesOf, createQueue, type JobQueue } from './queue/index.ts';
import { createRulesRuntime, lastReloadError, type RulesRuntime, recordCorrection } from './rules/index.ts';
import {
  buildPolicy,
  onStaffReply,
  onUrgencyChange,
  onWaitingOnCustomer,
  type SlaPolicy,
  scanSla,
  slaReport,
} from './sla/index.ts';
import { type Db, migrate, openDatabase } from './store/index.ts';
import type { WebDeps } from './web/index.ts';

/**
 * The composition root: the only place concrete services are built from config. Everything else
 * receives its collaborators (db, clock, transport, queue) as arguments.
 */

export type Role = 'poller' | 'scheduler' | 'workers' | 'web';
export const ALL_ROLES: Role[] = ['poller', 'scheduler', 'workers', 'web'];

const SLA_QUEUE = 'sla';

export interface AppDeps {
  config: Config;
  logger: Logger;
  clock?: Clock;
  /** An SMTP sender to use instead of one built from config.smtp (the demo's catcher, tests). */
  transport?: SmtpSender;
  /** Send acknowledgements for imported mail too (the demo); real imports are history. */
  acknowledgeImports?: boolean;
  /** More staff pages behind login (the demo's caught-mail page). */
  staffPlugins?: NonNullable<WebDeps['staffPlugins']>;
  /** How often the outbox relay looks for queued mail without a job (default 10 s; tests shorten it). */
  outboxRelayMs?: number;
}

interface Service {
  name: string;
  stop(): Promise<void> | void;
}

export interface App {
  config: Config;
  db: Db;
  logger: Logger;
  clock: Clock;
  queue: JobQueue;
  rules: RulesRuntime;
  sla: SlaPolicy;
  mail: MailServices;
  pipeline: IngestPipeline;
  lists: Lists;
  automations: Automations;
  orderIntake: OrderIntake;
  poller: ImapPoller | null;
  /** Address of the web server once the web role runs. */
  webUrl: string | null;
  web: FastifyInstance | null;
  start(roles: Role[]): Promise<void>;
  /** Stops every role (newest first) and closes the database; never takes longer than timeoutMs. */
  stop(timeoutMs?: number): Promise<void>;
}

/** A web port that cannot be had, said as what to change; other errors pass through. */
function listenError(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const why: Record<string, string> = {
    EADDRINUSE: `${where} is already in use (another mailroom, or another program): set web.port (env MAILROOM_PORT) to a free port, or stop what listens there`,
    EACCES: `no permission to listen on ${where} (ports below 1024 need privileges): set web.port (env MAILROOM_PORT) to 1024 or above`,
    EADDRNOTAVAIL: `${host} is not an address of this machine: set web.host (env MAILROOM_HOST) to one of its addresses, 127.0.0.1 or 0.0.0.0`,
    ENOTFOUND: `web.host "${host}" does not resolve: set web.host (env MAILROOM_HOST) to an address of this machine, 127.0.0.1 or 0.0.0.0`,
  };
  why.EAI_AGAIN = why.ENOTFOUND as string;
  const message = code ? why[code] : undefined;
  return message
    ? new MailroomError(ErrorCodes.CONFIG_INVALID, `cannot start the web server: ${message}`)
    : e;
}

export function openStore(config: Config, logger: Logger): Db {
  const db = openDatabase(config.paths.dbFile);
  const res = migrate(db, undefined, config.paths.dbFile);
  if (res.applied.length > 0)
    logger.info({ from: res.from, to: res.to, applied: res.applied }, 'database migrated');
  return db;
}

export async function createApp(deps: AppDeps): Promise<App> {
  const { config, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const db = openStore(config, logger);
  const services: Service[] = [];
  const queue = await createQueue({
    redisUrl: config.redis_url,
    db,
    clock,
    logger,
    defaults: { attempts: config.queue.attempts },
  }).catch((e: unknown) => {
    db.close();
    throw e;
  });
  // Campaign batches send through the same pooled transport as the send workers (one pool, one
  // connection and rate limit per process); resolved lazily, after smtp() below exists.
  const mail = createMailServices({ config, db, queue, clock, logger, transport: () => smtp() });
  const rules = createRulesRuntime({
    dir: config.paths.rulesDir,
    logger,
    clock,
    options: {
      defaultDepartment: config.mail.default_department,
      knownTemplates: [...new Set(mail.renderer.list().map((t) => t.template))],
    },
  });
  const sla = buildPolicy(config.sla);
  const secret = loadSessionSecret(config.credentials.sessionSecret, config.paths.dataDir);
  const blobs = createBlobStore(config.paths.blobDir, { logger });
  const lists = createLists({
    db,
    clock,
    logger,
    secret,
    publicUrl: publicUrl(config),
    mailDomain: config.mail.domain,
    from: config.mail.from,
    send: mail.sendListMail,
    render: mail.renderForLists,
    segmentMembers: segmentMembersFn(db),
    isSuppressed: (email) => isSuppressed(db, email, 'marketing'),
    settings: listsSettingsFromConfig(config),
    // Export and erase of one address reach past the lists: customer, orders, mail, outbox, files.
    dataRights: createDataRights({ db, clock, logger, blobs }),
  });
  const pipeline = createIngestPipeline({
    db,
    blobs,
    clock,
    logger,
    config,
    hooks: createIngestHooks({
      config,
      db,
      logger,
      rules,
      sla,
      blobs,
      lists,
      outbox: mail.outbox,
      renderer: mail.renderer,
      acknowledgeImports: deps.acknowledgeImports ?? false,
    }),
  });
  const automations = createAutomations({
    db,
    queue,
    clock,
    logger,
    config: config.automations,
    sendTemplate: mail.sendTemplate,
    defaultTimeZone: config.automations.time_zone ?? config.sla.time_zone,
  });
  const orderIntake = createOrderIntake({ db, clock, automations });

  let transport: SmtpSender | null = deps.transport ?? null;
  const smtp = (): SmtpSender => {
    transport ??= createSmtpTransport({
      smtp: config.smtp,
      password: config.credentials.smtpPassword,
      logger,
    });
    return transport;
  };

  const app: App = {
    config,
    db,
    logger,
    clock,
    queue,
    rules,
    sla,
    mail,
    pipeline,
    lists,
    automations,
    orderIntake,
    poller: null,
    webUrl: null,
    web: null,

    async start(roles) {
      const ownsDatabase = roles.some((r) => r !== 'workers') || queue.driver === 'embedded';
      if (roles.includes('workers')) {
        // Embedded workers record results themselves; BullMQ workers on other machines only send
        // and report back through Redis to the process that owns the database.
        const handler =
          queue.driver === 'embedded'
            ? createSendHandler({ db, clock, logger, transport: smtp() })
            : createRemoteSendHandler({ transport: smtp(), logger });
        queue.work(OUTBOUND_QUEUE, handler, { concurrency: config.queue.concurrency });
        // Campaign batches read and write campaign_sends: only a process with the database runs
        // them (a remote worker would find nothing in its own empty file and drop the batch).
        if (ownsDatabase) lists.campaignRunner(queue).work();
      }
      if (roles.includes('scheduler') && ownsDatabase) {
        if (queue.driver === 'bullmq')
          queue.listen(OUTBOUND_QUEUE, outboxResultEvents({ db, clock, logger }));
        queue.work(SLA_QUEUE, async () =>
          scanSla({
            db,
            clock,
            config,
            logger,
            notify: slaEscalationNotifier({ db, config, sendTemplate: mail.sendTemplate }),
          }),
        );
        await queue.schedule(SLA_QUEUE, 'sla-scan', config.sla.scan_interval_s * 1000, 'scan');
        await automations.start();
        const runner = lists.campaignRunner(queue);
        await runner.start();
        services.push({ name: 'campaigns', stop: () => runner.stop() });
        // Mail whose enqueue failed (Redis away, disk full, a crash after the commit) is offered
        // to the queue again, so no queued outbox row waits for ever.
        const relay = createOutboxRelay({
          db,
          queue,
          clock,
          logger,
          ...(deps.outboxRelayMs ? { everyMs: deps.outboxRelayMs } : {}),
        });
        await relay.start();
        services.push({ name: 'outbox-relay', stop: () => relay.stop() });
        const onHup = () => {
          const res = rules.reload();
          logger.info({ ok: res.ok }, 'rules reloaded on SIGHUP');
        };
        process.on('SIGHUP', onHup);
        // A rules file saved in the folder takes effect by itself; a broken one is refused (the
        // running rules stay) and shown on the admin page.
        rules.watch();
        services.push({
          name: 'rules',
          stop: () => {
            process.off('SIGHUP', onHup);
            rules.close();
          },
        });
      }
      services.push({ name: 'queue', stop: () => queue.close(7000) });
      if (roles.includes('poller') && config.imap.accounts.length > 0) {
        const poller = createImapPoller({
          accounts: config.imap.accounts,
          // Asked before every connection: a token file is read again (refreshed tokens).
          credentials: async (id) => imapCredentials(config, id),
          db,
          pipeline,
          clock,
          logger,
          batchSize: config.imap.batch_size,
          maxMessageBytes: config.imap.max_message_bytes,
        });
        await poller.start();
        app.poller = poller;
        services.push({ name: 'poller', stop: () => poller.stop() });
      }
      if (roles.includes('web')) {
        // Loaded here, not with this module: a process without the web role (workers, the
        // poller, the CLI) does not carry fastify, its plugins and the pages.
        const [{ buildWebServer }, { ordersApi }, { listsMarketerRoutes, listsPublicRoutes }, marketing] =
          await Promise.all([
            import('./web/index.ts'),
            import('./web/api/index.ts'),
            import('./web/lists/index.ts'),
            import('./web/marketing/index.ts'),
          ]);
        const { marketingPages, newsletterTemplates } = marketing;
        const web = buildWebServer({
          config,
          db,
          logger,
          clock,
          sendReply: async (input) => {
            const queued = await sendStaffReply(mail.outbox, input);
            const at = clock.now();
            onStaffReply(db, sla, input.conversationId, at);
            db.prepare("UPDATE conversations SET status = 'waiting' WHERE id = ? AND status = 'open'").run(
              input.conversationId,
            );
            onWaitingOnCustomer(db, sla, input.conversationId, at);
            return { outboxId: queued.outboxId };
          },
          sendAgain: (input) => sendAgain(mail.outbox, input.outboxId, input.by),
          onCorrection: (c) => {
            recordCorrection(db, {
              conversationId: c.conversationId,
              field: c.field,
              oldValue: c.from,
              newValue: c.to,
              user: c.user,
              at: clock.now(),
            });
            if (c.field === 'urgency')
              onUrgencyChange(db, sla, c.conversationId, clock.now(), c.to as 'urgent' | 'normal' | 'thanks');
          },
          slaReport: (since) => slaReport(db, { since, until: clock.now(), now: clock.now() }),
          queueCounts: async () => ({
            outbound: await queue.counts(OUTBOUND_QUEUE),
            [SEND_QUEUE]: await queue.counts(SEND_QUEUE),
            [AUTOMATIONS_QUEUE]: await queue.counts(AUTOMATIONS_QUEUE),
            sla: await queue.counts(SLA_QUEUE),
          }),
          bullmqQueues: () =>
            bullmqQueuesOf(queue, [OUTBOUND_QUEUE, SEND_QUEUE, AUTOMATIONS_QUEUE, SLA_QUEUE]),
          mailboxStatus: () => allMailboxStatus(db, config.imap.accounts),
          cannedReplies: (locale) => loadCannedReplies(config.paths.templatesDir, locale),
          rulesStatus: () => ({
            files: rules.current().files,
            lastError: lastReloadError(rules)?.message ?? null,
          }),
          staffPlugins: [
            {
              prefix: '/marketing',
              roles: ['marketer', 'admin'],
              plugin: async (scope) =>
                listsMarketerRoutes(scope, { lists: lists.deps, runner: lists.campaignRunner(queue) }),
            },
            {
              prefix: '/lists-admin',
              roles: ['marketer', 'admin'],
              plugin: marketingPages({
                lists: lists.deps,
                runner: lists.campaignRunner(queue),
                templates: () => newsletterTemplates(config.paths.templatesDir),
                sample: (template, locale) => mail.renderer.sample(template, locale),
              }),
            },
            ...(deps.staffPlugins ?? []),
          ],
        });
        await web.register(async (pub) => listsPublicRoutes(pub, { lists: lists.deps }));
        await web.register(
          ordersApi({ intake: orderIntake, clock, logger, apiKey: config.credentials.apiKey }),
        );
        try {
          await web.listen({ host: config.web.host, port: config.web.port });
        } catch (e) {
          await web.close().catch(() => {});
          throw listenError(e, config.web.host, config.web.port);
        }
        const addr = web.server.address();
        const port = typeof addr === 'object' && addr ? addr.port : config.web.port;
        app.web = web;
        app.webUrl = `http://${config.web.host.includes(':') ? `[${config.web.host}]` : config.web.host}:${port}`;
        services.push({ name: 'web', stop: () => web.close() });
        logger.info({ url: app.webUrl }, 'web server listening');
      }
      logger.info({ roles, queue: queue.driver }, 'mailroom started');
    },

    async stop(timeoutMs = 9000) {
      const deadline = Date.now() + timeoutMs;
      for (const s of services.reverse()) {
        const left = Math.max(0, deadline - Date.now());
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((r) => {
          timer = setTimeout(() => r('timeout'), left);
        });
        const res = await Promise.race([
          Promise.resolve(s.stop()).then(
            () => 'ok' as const,
            (e: unknown) => e,
          ),
          timedOut,
        ]);
        clearTimeout(timer);
        if (res === 'timeout') logger.warn({ service: s.name }, 'service did not stop in time; leaving it');
        else if (res !== 'ok') logger.warn({ service: s.name, err: res }, 'service failed to stop cleanly');
      }
      services.length = 0;
      await queue.close(500).catch(() => {});
      rules.close();
      if (transport) await Promise.resolve(transport.close?.()).catch(() => {});
      if (db.open) db.close();
    },
  };
  return app;
}
