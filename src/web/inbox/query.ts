import { Departments } from '../../config/index.ts';
import { type Db, isCjkTerm, prepareCached } from '../../store/index.ts';
import { type StaffUser, visibleDepartments } from '../auth/users.ts';

export const PAGE_SIZE = 50;
export const Statuses = ['active', 'open', 'waiting', 'snoozed', 'closed', 'all'] as const;

/** Optional tables other parts of mailroom create; looked up once at start-up. */
export interface SchemaFeatures {
  slaClocks: boolean;
  slaStage: boolean;
  slaWarnAt: boolean;
  ruleDecisions: boolean;
  imapCheckpoints: string | null;
  /** messages_cjk (migration 0016): 1-2 character CJK terms are looked up, not scanned. */
  cjkIndex: boolean;
}

export function detectFeatures(db: Db): SchemaFeatures {
  const tables = new Set(
    (
      db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')").all() as { name: string }[]
    ).map((r) => r.name),
  );
  const cols = (t: string) =>
    tables.has(t)
      ? new Set(
          (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(t) as { name: string }[]).map(
            (r) => r.name,
          ),
        )
      : new Set<string>();
  const sla = cols('sla_clocks');
  const hasSla = sla.has('conversation_id') && sla.has('due_at') && sla.has('state');
  return {
    slaClocks: hasSla,
    slaStage: hasSla && sla.has('sla_stage'),
    slaWarnAt: hasSla && sla.has('warn_at'),
    ruleDecisions: tables.has('rule_decisions'),
    imapCheckpoints: ['imap_checkpoints', 'ingest_checkpoints'].find((t) => tables.has(t)) ?? null,
    cjkIndex: tables.has('messages_cjk'),
  };
}

export interface InboxFilter {
  /** 'all', 'mine' or a department. */
  view: string;
  status: string;
  urgency: string;
  assignee: string;
  tag: string;
  q: string;
  page: number;
}

export interface InboxRow {
  id: number;
  subject: string;
  department: string;
  urgency: string;
  status: string;
  assignee: string | null;
  tags: string[];
  last_message_at: number;
  last_inbound_at: number | null;
  customer_name: string | null;
  customer_email: string | null;
  due_at: number | null;
  sla: 'breached' | 'at_risk' | 'running' | 'none';
}

interface Where {
  sql: string[];
  args: unknown[];
  with?: { sql: string; args: unknown[] };
}

/** Departments the user may see as SQL; agents are limited in the query itself, not after it. */
function visibility(user: StaffUser, w: Where): void {
  const deps = visibleDepartments(user);
  if (deps === null) return;
  w.sql.push('c.department IN (SELECT value FROM json_each(?))');
  w.args.push(JSON.stringify(deps));
}

function activeStatus(now: number, w: Where): void {
  w.sql.push(
    "c.status IN ('open', 'waiting', 'snoozed') AND (c.status != 'snoozed' OR coalesce(c.snoozed_until, 0) <= ?)",
  );
  w.args.push(now);
}

const likeEscape = (s: string) => `%${s.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;

/**
 * Matching messages of a short CJK search above which a search of few conversations asks each
 * conversation instead: collecting 5,000 hits' conversations takes ~5 ms, asking 5,842 active
 * conversations ~20 ms (bench store).
 */
const MANY_HITS = 5000;

const phrase = (t: string) => `"${t.replaceAll('"', '""')}"`;

/**
 * Full-text search; every term must match (in any of subject, body and sender) and no user text is
 * read as FTS5 syntax (each term is a quoted phrase):
 * - terms of 3+ characters: the trigram index messages_fts;
 * - terms of 1-2 CJK characters (退款, 發票, 退; most Chinese words are two characters): the pair
 *   index messages_cjk (migration 0016), '"退款"' for two characters and the prefix query '"退"*'
 *   for one;
 * - any other 1-2 character term ("TV", "A款"): the trigram tokenizer cannot match it, so LIKE over
 *   the text of the messages the other terms found, or of every candidate message when they are all
 *   such terms.
 *
 * The conversations hit are found one of two ways. Usually the matching messages are read from the
 * indexes and their conversations collected: the cost follows the number of hits. But a common short
 * word hits many (退款 is in a quarter of the bench's million messages: reading their conversation
 * ids took ~250 ms), and a LIKE-only search has no index at all; then, when the other filters leave
 * few conversations (`fewConversations`: the active, open, waiting or snoozed ones, a few thousand
 * however old the store), each of those is asked whether one of its messages matches instead, at a
 * cost that follows their number (~20 ms for the bench's 5,842 active conversations).
 */
function search(db: Db, q: string, f: SchemaFeatures, w: Where, fewConversations: boolean): void {
  // FTS5 reads a NUL as the end of the query ("unterminated string"): no stored text has one anyway.
  const terms = q.replaceAll('\u0000', '').trim().split(/\s+/u).filter(Boolean).slice(0, 8);
  if (terms.length === 0) return;
  const long = terms.filter((t) => [...t].length >= 3);
  const short = terms.filter((t) => [...t].length < 3);
  const cjk = f.cjkIndex ? short.filter(isCjkTerm) : [];
  const like = short.filter((t) => !cjk.includes(t));
  const conds: string[] = [];
  const args: unknown[] = [];
  const indexed: { table: string; match: string }[] = [];
  if (long.length > 0) indexed.push({ table: 'messages_fts', match: long.map(phrase).join(' ') });
  if (cjk.length > 0)
    indexed.push({
      table: 'messages_cjk',
      match: cjk.map((t) => ([...t].length === 1 ? `${phrase(t)}*` : phrase(t))).join(' '),
    });
  for (const { table, match } of indexed) {
    conds.push(`m.id IN (SELECT rowid FROM ${table} WHERE ${table} MATCH ?)`);
    args.push(match);
  }
  for (const t of like) {
    // The text messages_fts indexes (0007's messages_fts_source), read from the message row.
    conds.push(`(m.subject LIKE ? ESCAPE '\\' OR coalesce(m.text_body, '') LIKE ? ESCAPE '\\'
      OR coalesce(m.from_name, '') || ' ' || coalesce(m.from_addr, '') LIKE ? ESCAPE '\\')`);
    const p = likeEscape(t);
    args.push(p, p, p);
  }
  // Many hits: terms of 3+ characters are taken as narrowing enough (as before 0016; probing the
  // trigram index costs about what the search does), 1-2 character CJK terms are counted up to
  // MANY_HITS in their index (under a millisecond), and LIKE alone reads every message it is given.
  const cjkIndexed = indexed.find((x) => x.table === 'messages_cjk');
  const askEachConversation =
    fewConversations &&
    long.length === 0 &&
    (!cjkIndexed ||
      (
        prepareCached(
          db,
          `SELECT count(*) AS n FROM (SELECT 1 FROM messages_cjk WHERE messages_cjk MATCH ? LIMIT ${MANY_HITS})`,
        ).get(cjkIndexed.match) as { n: number }
      ).n >= MANY_HITS);
  // Materialised once per statement: every SLA band below reads the same hit list.
  w.with = askEachConversation
    ? {
        sql: `hits(id) AS MATERIALIZED (SELECT c.id FROM conversations c WHERE ${[...w.sql, ''].join(' AND ')}
          EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND ${conds.join(' AND ')}))`,
        args: [...w.args, ...args],
      }
    : {
        sql: `hits(id) AS MATERIALIZED (SELECT DISTINCT m.conversation_id FROM messages m WHERE ${conds.join(' AND ')})`,
        args,
      };
  w.sql.push('c.id IN hits');
}

export function queryInbox(
  db: Db,
  f: SchemaFeatures,
  user: StaffUser,
  filter: InboxFilter,
  now: number,
): { rows: InboxRow[]; hasMore: boolean } {
  const w: Where = { sql: [], args: [] };
  visibility(user, w);
  if (filter.view === 'mine') {
    w.sql.push('c.assignee = ?');
    w.args.push(user.username);
  } else if ((Departments as readonly string[]).includes(filter.view)) {
    w.sql.push('c.department = ?');
    w.args.push(filter.view);
  }
  if (filter.status === 'active' || filter.status === '') activeStatus(now, w);
  else if (filter.status !== 'all') {
    w.sql.push('c.status = ?');
    w.args.push(filter.status);
  }
  if (filter.urgency) {
    w.sql.push('c.urgency = ?');
    w.args.push(filter.urgency);
  }
  if (filter.assignee === '-') w.sql.push('c.assignee IS NULL');
  else if (filter.assignee) {
    w.sql.push('c.assignee = ?');
    w.args.push(filter.assignee);
  }
  if (filter.tag) {
    w.sql.push('EXISTS (SELECT 1 FROM json_each(c.tags) WHERE value = ?)');
    w.args.push(filter.tag);
  }
  // Last: the search reads the filters above.
  if (filter.q)
    search(db, filter.q, f, w, ['', 'active', 'open', 'waiting', 'snoozed'].includes(filter.status));

  const where = w.sql.length ? `AND ${w.sql.join(' AND ')}` : '';
  const k = Math.max(0, filter.page) * PAGE_SIZE + PAGE_SIZE + 1;
  // Breached first, then at risk, then by due time; conversations without a running clock last,
  // oldest customer message first. Each band is its own index walk (sla_clocks by due_at / warn_at,
  // conversations by last_inbound_at) cut at the page end, so a page costs about the same with
  // 1,000 or 100,000 open conversations instead of ranking and sorting all of them.
  const parts: { sql: string; args: unknown[] }[] = [];
  const band = (rank: number, cond: string, args: unknown[]) =>
    parts.push({
      sql: `SELECT * FROM (SELECT c.id AS id, ${rank} AS r, s.due_at AS due FROM sla_clocks s
        JOIN conversations c ON c.id = s.conversation_id WHERE (${cond}) ${where} ORDER BY s.due_at, c.id LIMIT ${k})`,
      args: [...args, ...w.args],
    });
  if (f.slaClocks) {
    const warn = f.slaWarnAt
      ? 's.warn_at IS NOT NULL AND s.warn_at <= ?'
      : f.slaStage
        ? "s.sla_stage = 'warning' AND ? IS NOT NULL"
        : '0 AND ? IS NOT NULL';
    band(0, "(s.state = 'running' AND s.due_at <= ?) OR s.state = 'breached'", [now]);
    band(1, `s.state = 'running' AND s.due_at > ? AND ${warn}`, [now, now]);
    band(2, `s.state = 'running' AND s.due_at > ? AND NOT (${warn})`, [now, now]);
  }
  const noClock = f.slaClocks
    ? `AND NOT EXISTS (SELECT 1 FROM sla_clocks s WHERE s.conversation_id = c.id
         AND (s.state = 'breached' OR (s.state = 'running' AND s.due_at IS NOT NULL)))`
    : '';
  parts.push({
    sql: `SELECT * FROM (SELECT c.id AS id, 3 AS r, NULL AS due FROM conversations c WHERE 1 ${noClock} ${where}
      ORDER BY c.last_inbound_at IS NULL, c.last_inbound_at, c.id LIMIT ${k})`,
    args: [...w.args],
  });
  // A compound SELECT without an outer ORDER BY yields its parts in order and stops at the LIMIT,
  // so later bands are not read once the page is full.
  const page = db
    .prepare(
      `${w.with ? `WITH ${w.with.sql} ` : ''}${parts.map((p) => p.sql).join(' UNION ALL ')}
       LIMIT ${PAGE_SIZE + 1} OFFSET ${k - PAGE_SIZE - 1}`,
    )
    .all(...(w.with?.args ?? []), ...parts.flatMap((p) => p.args)) as {
    id: number;
    r: number;
    due: number | null;
  }[];
  const ids = page.slice(0, PAGE_SIZE);
  const details = new Map(
    (
      db
        .prepare(
          `SELECT c.id, c.subject, c.department, c.urgency, c.status, c.assignee, c.tags, c.last_message_at,
             c.last_inbound_at, cu.name AS customer_name, cu.email AS customer_email
           FROM conversations c LEFT JOIN customers cu ON cu.id = c.customer_id
           WHERE c.id IN (SELECT value FROM json_each(?))`,
        )
        .all(JSON.stringify(ids.map((r) => r.id))) as Array<
        Omit<InboxRow, 'tags' | 'sla' | 'due_at'> & { tags: string }
      >
    ).map((r) => [r.id, r]),
  );
  const rows: InboxRow[] = [];
  for (const p of ids) {
    const d = details.get(p.id);
    if (!d) continue;
    rows.push({
      ...d,
      tags: JSON.parse(d.tags) as string[],
      due_at: p.due,
      sla: (['breached', 'at_risk', 'running', 'none'] as const)[p.r] ?? 'none',
    });
  }
  return { rows, hasMore: page.length > PAGE_SIZE };
}

/**
 * Active conversations per view the user can see: each department, 'mine' and 'all'. One index
 * probe per department on conversations(department, status) rather than a scan of all open rows.
 */
export function viewCounts(db: Db, user: StaffUser, now: number): Record<string, number> {
  const deps = visibleDepartments(user) ?? [...Departments];
  const perDept = db.prepare(
    `SELECT (SELECT count(*) FROM conversations WHERE department = ? AND status IN ('open', 'waiting'))
          + (SELECT count(*) FROM conversations WHERE department = ? AND status = 'snoozed'
               AND coalesce(snoozed_until, 0) <= ?) AS n`,
  );
  const out: Record<string, number> = { all: 0 };
  for (const d of deps) {
    const n = (perDept.get(d, d, now) as { n: number }).n;
    out[d] = n;
    out.all = (out.all ?? 0) + n;
  }
  const w: Where = { sql: ['c.assignee = ?'], args: [user.username] };
  visibility(user, w);
  activeStatus(now, w);
  out.mine = (
    db.prepare(`SELECT count(*) AS n FROM conversations c WHERE ${w.sql.join(' AND ')}`).get(...w.args) as {
      n: number;
    }
  ).n;
  return out;
}
