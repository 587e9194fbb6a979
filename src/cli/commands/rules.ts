import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import type { Config } from '../../config/index.ts';
import { ErrorCodes, errorMessage, isMailroomError, MailroomError } from '../../lib/index.ts';
import {
  evaluate,
  formatGoldenFailures,
  fromParsedMail,
  loadRules,
  type RuleProblem,
  type RuleSet,
  replay,
  runGoldenTests,
} from '../../rules/index.ts';
import { openDatabase } from '../../store/index.ts';
import { type Command, type CommandContext, UsageError } from '../command.ts';

/** Template names found under the templates folder (file and folder names, without extensions). */
function knownTemplates(dir: string): string[] | undefined {
  if (!existsSync(dir)) return undefined;
  const names = new Set<string>();
  const walk = (d: string, depth: number) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      names.add(e.name.replace(/\..*$/, ''));
      if (e.isDirectory() && depth < 4) walk(path.join(d, e.name), depth + 1);
    }
  };
  walk(dir, 0);
  // With no templates installed yet there is nothing to check against.
  return names.size ? [...names] : undefined;
}

function load(config: Config): RuleSet {
  const templates = knownTemplates(config.paths.templatesDir);
  return loadRules(config.paths.rulesDir, {
    defaultDepartment: config.mail.default_department,
    ...(templates ? { knownTemplates: templates } : {}),
  });
}

/** `7d`, `12h`, `30m`, `2w` before now, or a date (YYYY-MM-DD / ISO). */
export function parseSince(value: string, now: number): number {
  const m = /^(\d+)\s*([mhdw])$/.exec(value.trim());
  if (m) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }[m[2] as 'm' | 'h' | 'd' | 'w'];
    return now - Number(m[1]) * unit;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`--since "${value}" is not a duration like 7d / 12h or a date`);
  return t;
}

async function testFiles(ctx: CommandContext, files: string[]): Promise<number> {
  if (files.length === 0) throw new UsageError('name at least one .eml file');
  const rules = load(ctx.config());
  // Every file gets its answer: one that cannot be read is reported in its place (exit 1).
  const results: Array<
    { file: string; decision: ReturnType<typeof evaluate> } | { file: string; error: string }
  > = [];
  for (const file of files) {
    let raw: Buffer;
    try {
      raw = readFileSync(file);
    } catch (e) {
      results.push({ file, error: `cannot read ${file}: ${errorMessage(e)}` });
      continue;
    }
    const d = evaluate(rules, fromParsedMail(await simpleParser(raw), undefined, { size: raw.length }));
    results.push({ file, decision: d });
  }
  const code = results.some((r) => 'error' in r) ? 1 : 0;
  if (ctx.values.json) {
    ctx.out(
      JSON.stringify(
        results.map((r) => {
          if ('error' in r) return r;
          const { file, decision: d } = r;
          return {
            file,
            department: d.department,
            urgency: d.urgency,
            tags: d.tags,
            explanation: d.explanation,
            ...(d.autoReply ? { auto_reply: d.autoReply } : {}),
            ...(d.assign ? { assign: d.assign } : {}),
            ...(d.copyTo ? { copy_to: d.copyTo } : {}),
          };
        }),
        null,
        2,
      ),
    );
    return code;
  }
  for (const r of results) {
    if ('error' in r) {
      ctx.err(`mailroom rules: ${r.error}`);
      continue;
    }
    const { file, decision: d } = r;
    ctx.out(file);
    ctx.out(`  department: ${d.department}`);
    ctx.out(`  urgency:    ${d.urgency}`);
    ctx.out(`  tags:       ${d.tags.join(', ') || '(none)'}`);
    if (d.assign) ctx.out(`  assign:     ${d.assign}`);
    if (d.autoReply) ctx.out(`  auto-reply: ${d.autoReply}`);
    if (d.copyTo) ctx.out(`  copy to:    ${d.copyTo.join(', ')}`);
    ctx.out('  why:');
    for (const line of d.explanation) ctx.out(`    ${line}`);
  }
  return code;
}

async function check(ctx: CommandContext): Promise<number> {
  const config = ctx.config();
  let rules: RuleSet;
  try {
    rules = load(config);
  } catch (e) {
    if (!isMailroomError(e, ErrorCodes.RULES_INVALID)) throw e;
    const problems = (e.details?.problems ?? []) as RuleProblem[];
    if (problems.length === 0) ctx.err(e.message);
    for (const p of problems)
      ctx.err(`${path.join(config.paths.rulesDir, p.file)}:${p.line}:${p.column}: ${p.reason}`);
    return 1;
  }
  const results = await runGoldenTests(path.join(config.paths.rulesDir, 'tests'), rules);
  const failures = formatGoldenFailures(results);
  for (const f of failures) ctx.err(path.join(config.paths.rulesDir, f));
  const failed = results.filter((r) => !r.ok).length;
  ctx.out(
    `${rules.rules.length} rules in ${rules.files.length} files OK; golden tests: ${results.length - failed} passed, ${failed} failed`,
  );
  return failed ? 1 : 0;
}

function replayCommand(ctx: CommandContext): number {
  const config = ctx.config();
  const since = parseSince(String(ctx.values.since ?? '7d'), Date.now());
  const rules = load(config);
  if (!existsSync(config.paths.dbFile))
    throw new MailroomError(
      ErrorCodes.NOT_FOUND,
      `no database at ${config.paths.dbFile}: there is no stored mail to replay`,
    );
  // Read-only: replay shows what would change and can never change it.
  const db = openDatabase(config.paths.dbFile, { readonly: true });
  try {
    let res: ReturnType<typeof replay>;
    try {
      res = replay(db, rules, { since });
    } catch (e) {
      if (/no such table/.test(errorMessage(e)))
        throw new MailroomError(
          ErrorCodes.DB_MIGRATION_FAILED,
          `${config.paths.dbFile} is not up to date; run "mailroom migrate" first`,
        );
      throw e;
    }
    if (ctx.values.json) {
      ctx.out(JSON.stringify(res, null, 2));
      return 0;
    }
    for (const c of res.changes) {
      const b = c.before;
      const a = c.after;
      ctx.out(`message ${c.messageId} (conversation ${c.conversationId}) ${JSON.stringify(c.subject)}`);
      if (b.department !== a.department) ctx.out(`  department: ${b.department} -> ${a.department}`);
      if (b.urgency !== a.urgency) ctx.out(`  urgency:    ${b.urgency} -> ${a.urgency}`);
      if (b.source === 'decision' && b.tags.join() !== a.tags.join())
        ctx.out(`  tags:       [${b.tags.join(', ')}] -> [${a.tags.join(', ')}]`);
      for (const line of c.explanation) ctx.out(`    ${line}`);
    }
    ctx.out(
      `${res.examined} messages since ${new Date(since).toISOString()}: ${res.changes.length} would change (nothing was changed)`,
    );
    return 0;
  } finally {
    db.close();
  }
}

export const rulesCommand: Command = {
  name: 'rules',
  summary: 'test, check and replay the sorting rules (rules/*.yaml)',
  usage: 'test [--json] FILE.eml...\ncheck\nreplay [--since 7d] [--json]',
  options: {
    json: { type: 'boolean' },
    since: { type: 'string' },
  },
  help: [
    'test:   classify .eml files with the current rules and say why (department, urgency, tags);',
    '        a file that cannot be read is reported in its place and makes the exit code 1.',
    'check:  validate every rules file and run the golden tests in rules/tests; exit 1 on any problem.',
    'replay: show what the current rules would change on mail received since --since (default 7d);',
    '        the database is opened read-only, nothing is changed.',
  ].join('\n'),
  async run(ctx) {
    const [sub, ...rest] = ctx.positionals;
    switch (sub) {
      case 'test':
        return testFiles(ctx, rest);
      case 'check':
        return check(ctx);
      case 'replay':
        return replayCommand(ctx);
      default:
        throw new UsageError(
          sub
            ? `unknown subcommand "${sub}"; expected test, check or replay`
            : 'expected test, check or replay',
        );
    }
  },
};
