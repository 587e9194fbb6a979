import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/index.ts';
import { slaReport } from '../../src/sla/index.ts';
import type { Db } from '../../src/store/index.ts';
import { createUser } from '../../src/web/index.ts';
import { addUser, HOUR, login, makeWeb, NOW, PASSWORD, seedConversation, type TestWeb } from './helpers.ts';

let web: TestWeb | undefined;
afterEach(async () => {
  await web?.app.close();
  web?.db.close();
  web = undefined;
});

const SCRAPE_TOKEN = 'scrape-token-0123456789';
const scraper = { authorization: `Bearer ${SCRAPE_TOKEN}` };

describe('metrics, admin pages and languages', () => {
  it('shows metrics only to the scraper token or a signed-in admin', async () => {
    web = await makeWeb({}, { MAILROOM_METRICS_TOKEN: SCRAPE_TOKEN });
    await addUser(web.db, 'admin', 'admin');
    await addUser(web.db, 'agent', 'agent', ['sales']);
    const anonymous = await web.app.inject({ url: '/metrics' });
    expect(anonymous.statusCode).toBe(302);
    expect(anonymous.headers.location).toBe('/login?next=%2Fmetrics');
    const wrong = await web.app.inject({ url: '/metrics', headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(wrong.body).not.toContain('mailroom_');
    // Basic credentials (a proxy's login) are not a scrape: without a session, the login page.
    const basic = await web.app.inject({
      url: '/metrics',
      headers: { authorization: `Basic ${Buffer.from(`x:${SCRAPE_TOKEN}`).toString('base64')}` },
    });
    expect(basic.statusCode).toBe(302);
    const agent = await login(web.app, 'agent');
    expect((await web.app.inject({ url: '/metrics', headers: { cookie: agent.cookie } })).statusCode).toBe(
      403,
    );
    const admin = await login(web.app, 'admin');
    const page = await web.app.inject({ url: '/metrics', headers: { cookie: admin.cookie } });
    expect(page.statusCode).toBe(200);
    const behindProxy = await web.app.inject({
      url: '/metrics',
      headers: { cookie: admin.cookie, authorization: 'Basic cHJveHk6bG9naW4=' },
    });
    expect(behindProxy.statusCode).toBe(200);
    expect(page.body).toContain('mailroom_messages_ingested_total 0\n');
    expect((await web.app.inject({ url: '/metrics', headers: scraper })).statusCode).toBe(200);
  });

  it('refuses every bearer token when no metrics token is configured, saying what to set', async () => {
    web = await makeWeb();
    const res = await web.app.inject({ url: '/metrics', headers: { authorization: 'Bearer anything' } });
    expect(res.statusCode).toBe(401);
    expect(res.body).toContain('MAILROOM_METRICS_TOKEN');
  });

  it('serves Prometheus metrics from the store and from deps.metrics, with queue depth per queue', async () => {
    web = await makeWeb(
      {
        metrics: () => ({ mails_sent_total: 12, mails_failed_total: 1 }),
        queueCounts: async () => ({
          outbound: { waiting: 3, active: 1, delayed: 0, completed: 9, failed: 1 },
        }),
      },
      { MAILROOM_METRICS_TOKEN: SCRAPE_TOKEN },
    );
    seedConversation(web.db, { department: 'sales', subject: 'a', dueIn: -HOUR });
    seedConversation(web.db, { department: 'sales', subject: 'b', dueIn: HOUR, warning: true });
    const res = await web.app.inject({ url: '/metrics', headers: scraper });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toContain(
      '# TYPE mailroom_messages_ingested_total counter\nmailroom_messages_ingested_total 2\n',
    );
    expect(res.body).toContain('mailroom_mails_sent_total 12\n');
    expect(res.body).toContain('mailroom_mails_failed_total 1\n');
    expect(res.body).toContain('mailroom_sla_breached 1\n');
    expect(res.body).toContain('mailroom_sla_at_risk 1\n');
    expect(res.body).toContain('mailroom_queue_jobs{queue="outbound",state="waiting"} 3\n');
  });

  it('counts sent, failed and pending mail from the outbox itself', async () => {
    web = await makeWeb({}, { MAILROOM_METRICS_TOKEN: SCRAPE_TOKEN });
    const add = web.db.prepare(
      `INSERT INTO outbox (kind, to_addr, from_addr, envelope_from, subject, message_id, raw, status,
                           idempotency_key, created_at, updated_at)
       VALUES ('acknowledgement', 'a@example.com', 's@shop.example', 's@shop.example', 'Re: hi', ?, x'00', ?, ?, 0, 0)`,
    );
    ['sent', 'sent', 'failed', 'queued', 'sending', 'uncertain'].forEach((status, i) => {
      add.run(`m${i}@shop.example`, status, `k${i}`);
    });
    const res = await web.app.inject({ url: '/metrics', headers: scraper });
    expect(res.body).toContain('mailroom_mails_sent_total 2\n');
    expect(res.body).toContain('mailroom_mails_failed_total 1\n');
    expect(res.body).toContain('mailroom_mails_uncertain_total 1\n');
    expect(res.body).toContain('# TYPE mailroom_mails_pending gauge\nmailroom_mails_pending 2\n');
  });

  it('says "not wired" on the health page when rules and queues are not connected, and shows them when they are', async () => {
    web = await makeWeb();
    await addUser(web.db, 'admin', 'admin');
    const who = await login(web.app, 'admin');
    const bare = await web.app.inject({ url: '/admin/health', headers: { cookie: who.cookie } });
    expect(bare.statusCode).toBe(200);
    expect(bare.body.match(/Not wired in this installation/g)?.length).toBeGreaterThanOrEqual(2);
    await web.app.close();
    web.db.close();
    web = await makeWeb({
      rulesStatus: () => ({ files: ['rules/10-finance.yaml'], lastError: 'rules/20-x.yaml:3: bad key' }),
      queueCounts: async () => ({ outbound: { waiting: 4, active: 0, delayed: 2, completed: 1, failed: 0 } }),
      mailboxStatus: () => [
        {
          account: 'shop',
          mailbox: 'INBOX',
          uidValidity: '7',
          lastUid: 120,
          serverMessages: 118,
          ingested: 116,
          lastPollAt: NOW - 60_000,
          lastError: 'AUTHENTICATIONFAILED <b>bad</b> password',
          lastErrorAt: NOW - 30_000,
          uidGaps: [17, 18],
        },
      ],
    });
    await addUser(web.db, 'admin', 'admin');
    const who2 = await login(web.app, 'admin');
    const wired = await web.app.inject({ url: '/admin/health', headers: { cookie: who2.cookie } });
    expect(wired.body).toContain('rules/10-finance.yaml');
    expect(wired.body).toContain('rules/20-x.yaml:3: bad key');
    expect(wired.body).toContain('<td>outbound</td><td>4</td>');
    expect(wired.body).toContain('<td>shop</td><td>INBOX</td><td>118</td><td>116</td>');
    expect(wired.body).toContain('AUTHENTICATIONFAILED &lt;b&gt;bad&lt;/b&gt; password');
    expect(wired.body).toContain('<td>17, 18</td>');
  });

  it('draws the SLA report as an inline SVG chart with met and breached per day', async () => {
    web = await makeWeb();
    await addUser(web.db, 'admin', 'admin');
    seedConversation(web.db, { department: 'sales', subject: 'late', dueIn: -HOUR });
    const who = await login(web.app, 'admin');
    const res = await web.app.inject({ url: '/admin/sla', headers: { cookie: who.cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<svg');
    expect(res.body).toMatch(/<title>2026-01-05 breached: 1<\/title>/);
    expect(res.body).not.toMatch(/<script(?![^>]*src=)/);
  });

  it('tabulates response times by department and urgency for the period the admin picks', async () => {
    const periods: number[] = [];
    let db: Db | undefined;
    web = await makeWeb({
      slaReport: (since) => {
        periods.push(Math.round((NOW - since) / 86_400_000));
        return slaReport(db as Db, { since, until: NOW, now: NOW });
      },
    });
    db = web.db;
    await addUser(web.db, 'admin', 'admin');
    seedConversation(web.db, { department: 'finance', subject: 'late', dueIn: -HOUR });
    seedConversation(web.db, { department: 'finance', subject: 'soon', dueIn: HOUR, warning: true });
    const who = await login(web.app, 'admin');
    const res = await web.app.inject({ url: '/admin/sla?days=30', headers: { cookie: who.cookie } });
    expect(res.statusCode).toBe(200);
    expect(periods).toEqual([30]);
    expect(res.body).toContain('<option value="30" selected>Last 30 days</option>');
    const rows = [
      ...res.body.matchAll(
        /<tr><td>([^<]*)<\/td><td>([^<]*)<\/td><td>(\d+)<\/td>.*?<td>(\d+)<\/td><td>(\d+)<\/td><\/tr>/g,
      ),
    ].map((m) => [m[1], m[2], Number(m[3]), Number(m[4]), Number(m[5])]);
    // department, urgency, received, at risk, breached
    expect(rows).toContainEqual(['Finance', 'normal', 2, 1, 1]);
    expect(res.body).not.toContain('<pre>');
    const odd = await web.app.inject({ url: '/admin/sla?days=abc', headers: { cookie: who.cookie } });
    expect(odd.statusCode).toBe(200);
    expect(periods).toEqual([30, 14]);
  });

  it("shows the UI in the user's language: Simplified and Traditional Chinese", async () => {
    web = await makeWeb();
    const clock = new ManualClock();
    await createUser(web.db, clock, {
      username: 'wang',
      password: PASSWORD,
      role: 'agent',
      departments: ['sales'],
      locale: 'zh-CN',
    });
    await createUser(web.db, clock, { username: 'chen', password: PASSWORD, role: 'admin', locale: 'zh-TW' });
    seedConversation(web.db, { department: 'sales', subject: 'x', urgency: 'urgent' });
    const wang = await login(web.app, 'wang');
    const cn = await web.app.inject({ url: '/inbox', headers: { cookie: wang.cookie } });
    expect(cn.body).toContain('收件箱');
    expect(cn.body).toContain('紧急');
    expect(cn.body).toContain('lang="zh-CN"');
    const chen = await login(web.app, 'chen');
    const tw = await web.app.inject({ url: '/inbox', headers: { cookie: chen.cookie } });
    expect(tw.body).toContain('收件匣');
    expect(tw.body).toContain('緊急');
    const loginPage = await web.app.inject({
      url: '/login',
      headers: { 'accept-language': 'zh-CN,zh;q=0.9' },
    });
    expect(loginPage.body).toContain('登录');
  });
});
