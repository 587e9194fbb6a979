import { performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { ALL_ROLES, type App } from '../../src/app.ts';
import { createCampaign, createList, getCampaign, startCampaign } from '../../src/lists/index.ts';
import { createUser } from '../../src/web/index.ts';
import {
  createImapUser,
  dovecotInfo,
  type ImapUser,
  imapClient,
  type SmtpPeer,
  startSmtpPeer,
  waitForLogin,
} from '../harness/index.ts';
import { type Instance, startInstance, waitUntil } from './mailroom-instance.ts';

/**
 * The staff inbox under load, on one real `mailroom start` (every role in one process, embedded
 * queue): 50 staff members log in through the login form (CSRF cookie + hidden field) over real
 * HTTP on 127.0.0.1, then browse the inbox, open conversations and post replies, while customer
 * mail keeps arriving in Dovecot (and is polled in, classified and acknowledged) and a campaign
 * goes out through the same queue and SMTP peer.
 *
 * How long the staff keep at it: 60 s, as the scenario asks (MAILROOM_LOAD_SECONDS shortens it
 * for a quick local run). Page times are printed (p50/p95/max per page), never asserted.
 */
const LOAD_SECONDS = Number(process.env.MAILROOM_LOAD_SECONDS ?? 60);
const SESSIONS = 50;
const PASSWORD = 'load-test correct horse';
const SUBSCRIBERS = 150;
const CUSTOMERS = 40;

interface Timing {
  page: string;
  ms: number;
}

/** A browser of sorts: cookies kept per session, redirects looked at rather than followed. */
class Browser {
  private readonly cookies = new Map<string, string>();
  constructor(
    private readonly base: string,
    private readonly timings: Timing[],
    private readonly problems: string[],
  ) {}

  async request(
    page: string,
    method: 'GET' | 'POST',
    path: string,
    expected: number,
    form?: Record<string, string>,
  ): Promise<{ status: number; body: string; location: string | null }> {
    const headers: Record<string, string> = {
      cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
    };
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const t0 = performance.now();
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      redirect: 'manual',
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    const body = await res.text();
    this.timings.push({ page, ms: performance.now() - t0 });
    for (const c of res.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (!value || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    if (res.status !== expected)
      this.problems.push(`${method} ${path} -> ${res.status} (expected ${expected}): ${body.slice(0, 160)}`);
    return { status: res.status, body, location: res.headers.get('location') };
  }
}

function hidden(html: string, name: string): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!m?.[1]) throw new Error(`no ${name} field on the page`);
  return m[1];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

const TOPICS = [
  ['Where is my parcel?', 'I ordered a teapot ten days ago and it has not arrived.'],
  ['Refund for order 1042', 'The cups arrived broken, I would like my money back.'],
  ['Wholesale prices', 'We run a café and would like to buy your oolong in bulk.'],
  ['Invoice needed', 'Please send an invoice with our VAT number for order 2210.'],
  ['Thank you!', 'The jasmine tea is wonderful, thank you so much.'],
] as const;

function customerMail(i: number, run: string): string {
  const [subject, body] = TOPICS[i % TOPICS.length] as readonly [string, string];
  const who = i % CUSTOMERS;
  return (
    `From: Customer ${who} <customer${who}@shoppers${who % 7}.example>\r\nTo: support@teahouse.example\r\n` +
    `Subject: ${subject}\r\nMessage-ID: <load-${run}-${i}@shoppers.example>\r\n` +
    `Date: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}\r\n`
  );
}

/** Appends customer mail to the shop's mailbox at a steady pace until stopped; counts what it added. */
function startMailFlow(box: ImapUser, everyMs: number) {
  const run = Math.random().toString(36).slice(2, 8);
  const client = imapClient(box);
  client.on('error', () => {});
  let appended = 0;
  let stopped = false;
  let failure: unknown = null;
  const done = (async () => {
    await client.connect();
    try {
      while (!stopped) {
        await client.append('INBOX', customerMail(appended, run));
        appended += 1;
        await new Promise((r) => setTimeout(r, everyMs));
      }
    } finally {
      await client.logout().catch(() => {});
    }
  })().catch((e: unknown) => {
    failure = e;
  });
  return {
    appended: () => appended,
    failure: () => failure,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

async function seedStaff(app: App): Promise<string[]> {
  const names = Array.from({ length: SESSIONS }, (_, i) => `staff${String(i).padStart(2, '0')}`);
  await Promise.all(
    names.map((username, i) =>
      createUser(app.db, app.clock, {
        username,
        password: PASSWORD,
        // A mix like a real team: a few admins, agents covering every department.
        ...(i % 5 === 0
          ? { role: 'admin' as const }
          : {
              role: 'agent' as const,
              departments: ['sales', 'customer_service', 'pr', 'hr', 'finance'],
            }),
      }),
    ),
  );
  return names;
}

async function seedCampaign(app: App): Promise<number> {
  const list = createList(
    app.db,
    { slug: 'news', name: 'Teahouse news', public: true, consentWording: 'Send me the newsletter.' },
    app.clock.now(),
  );
  const csv = [
    'email,name',
    ...Array.from({ length: SUBSCRIBERS }, (_, i) => `reader${i}@readers${i % 30}.example,Reader ${i}`),
  ].join('\n');
  await app.lists.importCsv({
    slug: list.slug,
    csv,
    source: 'staff',
    consent: 'confirmed-elsewhere',
    wording: 'Signed up at the shop counter.',
  });
  return createCampaign(
    app.db,
    { name: 'Spring teas', listIds: [list.id], template: 'newsletter', subject: 'New spring teas' },
    app.clock.now(),
  ).id;
}

describe.skipIf(!dovecotInfo())('the staff inbox under load, with ingest and a campaign running', () => {
  let inst: Instance | null = null;
  let peer: SmtpPeer | null = null;
  afterAll(async () => {
    await inst?.stop();
    await peer?.close();
  });

  it(`${SESSIONS} staff sessions for ${LOAD_SECONDS} s: no error responses, all mail ingested, the campaign finished`, {
    timeout: (LOAD_SECONDS + 120) * 1000,
  }, async () => {
    const box = createImapUser(dovecotInfo() as NonNullable<ReturnType<typeof dovecotInfo>>);
    await waitForLogin(box);
    peer = await startSmtpPeer();
    let staff: string[] = [];
    inst = await startInstance({
      from: 'Teahouse Support <support@teahouse.example>',
      domain: 'teahouse.example',
      imap: box,
      smtp: peer,
      roles: [...ALL_ROLES],
      beforeStart: async (app) => {
        staff = await seedStaff(app);
      },
    });
    const app = inst.app;
    const base = app.webUrl as string;

    // Some conversations in the inbox before anyone logs in.
    const flow = startMailFlow(box, 100);
    await waitUntil('the first conversations', () => {
      const n = app.db.prepare("SELECT count(*) n FROM messages WHERE direction = 'in'").get() as {
        n: number;
      };
      return n.n >= 10;
    });

    const timings: Timing[] = [];
    const problems: string[] = [];
    const browsers = staff.map(() => new Browser(base, timings, problems));

    // Everyone logs in through the form, at once.
    await Promise.all(
      browsers.map(async (b, i) => {
        const form = await b.request('GET /login', 'GET', '/login', 200);
        const res = await b.request('POST /login', 'POST', '/login', 303, {
          _csrf: hidden(form.body, '_csrf'),
          username: staff[i] as string,
          password: PASSWORD,
          next: '/inbox',
        });
        expect(res.location).toBe('/inbox');
      }),
    );
    expect(problems, 'every login succeeded').toEqual([]);

    const campaignId = await seedCampaign(app);
    startCampaign(app.db, campaignId, app.clock.now());

    let replies = 0;
    const deadline = Date.now() + LOAD_SECONDS * 1000;
    const filters = [
      '',
      '?view=mine',
      '?view=customer_service',
      '?status=waiting',
      '?urgency=urgent',
      '?q=tea',
    ];
    await Promise.all(
      browsers.map(async (b, i) => {
        let round = 0;
        while (Date.now() < deadline) {
          round += 1;
          const inbox = await b.request(
            'GET /inbox',
            'GET',
            `/inbox${filters[(i + round) % filters.length]}`,
            200,
          );
          const ids = [...inbox.body.matchAll(/href="\/c\/(\d+)"/g)].map((m) => m[1] as string);
          if (ids.length === 0) continue;
          const id = ids[(i * 7 + round) % ids.length] as string;
          const page = await b.request('GET /c/:id', 'GET', `/c/${id}`, 200);
          if (page.status !== 200) continue;
          if ((i + round) % 3 === 0) {
            const res = await b.request('POST /c/:id/reply', 'POST', `/c/${id}/reply`, 303, {
              _csrf: hidden(page.body, '_csrf'),
              text: `Thank you for your message, we are on it. (${staff[i]}, round ${round})`,
            });
            if (res.location === `/c/${id}?sent=1`) replies += 1;
            else problems.push(`reply to /c/${id} was not queued: ${res.location}`);
          }
        }
      }),
    );
    await flow.stop();
    expect(flow.failure()).toBeNull();

    // Everything that arrived is in, the campaign is through, the replies are all in the outbox.
    const appended = flow.appended();
    const inbound = () =>
      (app.db.prepare("SELECT count(*) n FROM messages WHERE direction = 'in'").get() as { n: number }).n;
    await waitUntil(`all ${appended} appended messages ingested`, () => inbound() === appended, 60_000).catch(
      () => {},
    );
    await waitUntil(
      'the campaign to finish',
      () => getCampaign(app.db, campaignId).status === 'done',
      60_000,
    ).catch(() => {});

    const byPage = new Map<string, number[]>();
    for (const t of timings) byPage.set(t.page, [...(byPage.get(t.page) ?? []), t.ms]);
    const report = [...byPage].map(([page, list]) => {
      const s = [...list].sort((x, y) => x - y);
      return `${page.padEnd(18)} n=${String(s.length).padStart(5)}  p50=${percentile(s, 50).toFixed(0)} ms  p95=${percentile(s, 95).toFixed(0)} ms  max=${percentile(s, 100).toFixed(0)} ms`;
    });
    console.log(
      `[load] ${SESSIONS} sessions for ${LOAD_SECONDS} s: ${timings.length} requests, ${replies} replies, ${appended} mails ingested, ${peer.received.length} mails sent\n  ${report.join('\n  ')}`,
    );
    const serverErrors = inst.logs.filter((l) => /"level":(50|60)/.test(l));
    if (serverErrors.length) console.log(`[load] error log lines:\n${serverErrors.slice(0, 10).join('')}`);

    expect(problems, 'no 5xx and no unexpected 4xx').toEqual([]);
    expect(serverErrors, 'nothing logged at error level').toEqual([]);
    expect(inbound()).toBe(appended);
    expect(getCampaign(app.db, campaignId).status).toBe('done');
    expect(replies).toBeGreaterThan(0);
    const queuedReplies = app.db
      .prepare("SELECT count(*) n FROM outbox WHERE kind = 'staff_reply'")
      .get() as {
      n: number;
    };
    expect(queuedReplies.n).toBe(replies);
  });
});
