import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Config, loadConfig, PROJECT_ROOT } from '../config/index.ts';
import { createLogger, isMailroomError, type Logger } from '../lib/index.ts';
import { type Command, type CommandContext, type Options, UsageError } from './command.ts';
import { commands } from './commands/index.ts';

const GLOBAL_OPTIONS: Options = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'mailroom: customer mail, sorted and answered on time.',
    '',
    'Usage: mailroom <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options for every command:',
    '  -c, --config FILE  mailroom.yaml to use (default: $MAILROOM_CONFIG, then ./mailroom.yaml, then built-in defaults)',
    '  -h, --help         show help for a command',
    '',
    'Run "mailroom <command> --help" for a command\'s options.',
  ].join('\n');
}

function commandHelp(cmd: Command): string {
  const opts = Object.entries(cmd.options ?? {}).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ' VALUE' : ''}`;
    return `  ${flag}`;
  });
  return [
    `mailroom ${cmd.name}: ${cmd.summary}`,
    '',
    ...cmd.usage
      .split('\n')
      .map((u, i) => `${i === 0 ? 'Usage: ' : '       '}mailroom ${cmd.name}${u ? ` ${u}` : ''}`),
    ...(cmd.help ? ['', cmd.help] : []),
    ...(opts.length ? ['', 'Options:', ...opts] : []),
    '  -c, --config FILE',
    '  -h, --help',
  ].join('\n');
}

/** parseArgs's message in one line; its unknown-option hint quotes unevenly, so it is reworded. */
function parseArgsProblem(e: Error & { code?: string }): string {
  const unknown =
    e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /^Unknown option '([^']*)'/.exec(e.message) : null;
  if (unknown)
    return `unknown option "${unknown[1]}" (an argument that starts with "-" goes after "--", as in -- ${unknown[1]})`;
  return e.message.split('\n')[0] ?? e.message;
}

export interface MainIO {
  out?: (line: string) => void;
  err?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** Runs one command line; returns the exit code (0 ok, 1 failure, 2 misuse). */
export async function main(argv: string[], io: MainIO = {}): Promise<number> {
  const out = io.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = io.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    out(version());
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    err(`mailroom: unknown command "${name}"; run "mailroom --help" for the list`);
    return 2;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...cmd.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    err(`mailroom ${name}: ${parseArgsProblem(e as Error)}; run "mailroom ${name} --help"`);
    return 2;
  }
  if (parsed.values.help) {
    out(commandHelp(cmd));
    return 0;
  }
  let config: Config | undefined;
  let logger: Logger | undefined;
  const ctx: CommandContext = {
    values: parsed.values,
    positionals: parsed.positionals,
    config: () => {
      config ??= loadConfig({
        configPath: parsed.values.config as string | undefined,
        env: io.env ?? process.env,
        secrets: cmd.needsMailSecrets ? 'require' : 'skip',
      });
      return config;
    },
    logger: () => {
      logger ??= createLogger({ level: config?.log_level ?? process.env.MAILROOM_LOG_LEVEL ?? 'info' });
      return logger;
    },
    out,
    err,
  };
  try {
    return (await cmd.run(ctx)) ?? 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`mailroom ${name}: ${e.message}; run "mailroom ${name} --help"`);
      return 2;
    }
    if (isMailroomError(e)) {
      err(`mailroom ${name}: ${e.message}`);
      return 1;
    }
    err(`mailroom ${name}: unexpected error: ${(e as Error)?.stack ?? String(e)}`);
    return 1;
  }
}
