import { main } from '../../src/cli/main.ts';

/**
 * Runs the mailroom CLI in this process with `env` as the environment its configuration is read
 * from (the config file is still looked for from this process's working directory); returns the
 * exit code and what it printed (lines joined with \n).
 */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), env });
  return { code, out: out.join('\n'), err: err.join('\n') };
}
