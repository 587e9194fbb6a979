import type { ParseArgsConfig } from 'node:util';
import type { Config } from '../config/index.ts';
import type { Logger } from '../lib/index.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandContext {
  values: { [option: string]: string | boolean | Array<string | boolean> | undefined };
  positionals: string[];
  /** Loads and validates the configuration (once); commands that need none never call it. */
  config(): Config;
  logger(): Logger;
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface Command {
  name: string;
  summary: string;
  /** Usage lines shown by --help, without the leading `mailroom <name>`. */
  usage: string;
  options?: Options;
  /** Extra help text: what the command does, step by step. */
  help?: string;
  /**
   * true: the command talks to the IMAP and SMTP servers (start, worker), so their secrets must be
   * set. Other commands never do (mail they queue is sent by `start` or a `worker`) and load the
   * config without them: an admin adds a staff user on a machine without the mail passwords.
   */
  needsMailSecrets?: true;
  run(ctx: CommandContext): Promise<number | undefined>;
}

/** Misuse of the command line: exit code 2 with a one-line message. */
export class UsageError extends Error {
  override name = 'UsageError';
}
