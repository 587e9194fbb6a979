import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Departments } from '../../config/index.ts';
import { systemClock } from '../../lib/index.ts';
import { type Db, listMigrations, migrate, openDatabase } from '../../store/index.ts';
import type { Locale, Role } from '../../web/index.ts';
import { type Command, UsageError } from '../command.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Asks for the password on the terminal without echoing it. */
function prompt(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WriteStream };
    let asked = false;
    out._writeToOutput = (s: string) => {
      if (!asked) {
        out.output.write(s);
        asked = true;
      }
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stdout.write('\n');
      resolve(answer);
    });
  });
}

function openStore(path: string): Db {
  const db = openDatabase(path);
  migrate(db, listMigrations(), path);
  return db;
}

export const users: Command = {
  name: 'users',
  summary: 'manage staff accounts for the web UI (add the first admin with "users add NAME --role admin")',
  usage:
    'add USERNAME --role admin|agent|marketer [--departments a,b] [--locale en|zh-CN|zh-TW] [--password-stdin]\nlist',
  options: {
    role: { type: 'string' },
    departments: { type: 'string' },
    locale: { type: 'string' },
    'password-stdin': { type: 'boolean' },
  },
  help: [
    'add: creates an account. The password is read from stdin with --password-stdin, asked for on a',
    'terminal, or otherwise generated and printed once. Agents need --departments (they only see',
    'those departments: sales, customer_service, pr, hr, finance).',
    'list: shows every account with its role and departments.',
  ].join('\n'),
  async run(ctx) {
    const [sub, username, ...extra] = ctx.positionals;
    // Loaded when run: the web barrel brings the web server, which other commands do not need.
    const { createUser, Locales, listUsers, Roles } = await import('../../web/index.ts');
    if (sub === 'list') {
      const db = openStore(ctx.config().paths.dbFile);
      try {
        for (const u of listUsers(db))
          ctx.out(`${u.username}\t${u.role}\t${u.departments.join(',') || '-'}\t${u.locale}`);
      } finally {
        db.close();
      }
      return 0;
    }
    if (sub !== 'add') throw new UsageError('expected "add" or "list"');
    if (!username || extra.length > 0) throw new UsageError('expected one USERNAME after "add"');
    const role = ctx.values.role;
    if (typeof role !== 'string') throw new UsageError('--role is required (admin, agent or marketer)');
    if (!(Roles as readonly string[]).includes(role))
      throw new UsageError(`unknown role "${role}"; use ${Roles.join(', ')}`);
    const departments =
      typeof ctx.values.departments === 'string'
        ? ctx.values.departments
            .split(',')
            .map((d) => d.trim())
            .filter(Boolean)
        : [];
    for (const d of departments)
      if (!(Departments as readonly string[]).includes(d))
        throw new UsageError(`unknown department "${d}"; use ${Departments.join(', ')}`);
    if (role === 'agent' && departments.length === 0)
      throw new UsageError('an agent needs at least one department (--departments sales,finance)');
    const locale = ctx.values.locale;
    if (locale !== undefined && !(Locales as readonly string[]).includes(String(locale)))
      throw new UsageError(`unknown locale "${String(locale)}"; use ${Locales.join(', ')}`);
    let password: string;
    let generated = false;
    if (ctx.values['password-stdin']) password = await readStdin();
    else if (process.stdin.isTTY) password = await prompt('Password: ');
    else {
      password = randomBytes(15).toString('base64url');
      generated = true;
    }
    const db = openStore(ctx.config().paths.dbFile);
    try {
      const user = await createUser(db, systemClock, {
        username,
        password,
        role: role as Role,
        departments,
        ...(typeof locale === 'string' ? { locale: locale as Locale } : {}),
      });
      ctx.out(
        `created ${user.role} ${user.username}${departments.length ? ` (${departments.join(', ')})` : ''}`,
      );
      if (generated) ctx.out(`password (shown once, store it now): ${password}`);
    } finally {
      db.close();
    }
    return 0;
  },
};
