import { type FSWatcher, watch } from 'node:fs';
import type { Clock, Logger } from '../lib/index.ts';
import { errorMessage } from '../lib/index.ts';
import { type LoadRulesOptions, loadRules, type RuleProblem } from './load.ts';
import type { RuleSet } from './types.ts';

export interface ReloadError {
  at: number;
  message: string;
  problems: RuleProblem[];
}

export interface RulesRuntime {
  /** The rules in force: always a complete, valid set. */
  current(): RuleSet;
  /** Re-reads the folder; a bad file keeps the running rules and is recorded as lastReloadError. */
  reload(): { ok: true; rules: number } | { ok: false; error: ReloadError };
  /** The last failed reload (null after a good one), for the admin page. */
  lastReloadError(): ReloadError | null;
  /** From now until close(), reloads by itself when a rules file in the folder changes (debounced). */
  watch(): void;
  close(): void;
}

export interface RulesRuntimeDeps {
  dir: string;
  logger: Logger;
  clock: Clock;
  options?: Omit<LoadRulesOptions, 'loadedAt'>;
  /** Watch from the start (see RulesRuntime.watch). SIGHUP is wired by the app. */
  watch?: boolean;
  debounceMs?: number;
}

/**
 * Holds the running rules. Start-up refuses bad rules (throws); a later reload never replaces good
 * rules with bad ones, so a typo saved in an editor cannot stop mail being sorted.
 */
export function createRulesRuntime(deps: RulesRuntimeDeps): RulesRuntime {
  const log = deps.logger.child({ component: 'rules' });
  const load = () => loadRules(deps.dir, { ...deps.options, loadedAt: deps.clock.now() });
  let rules = load();
  let lastError: ReloadError | null = null;
  log.info({ dir: deps.dir, rules: rules.rules.length, files: rules.files.length }, 'rules loaded');

  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;

  const runtime: RulesRuntime = {
    current: () => rules,
    reload() {
      try {
        rules = load();
        lastError = null;
        log.info({ rules: rules.rules.length, files: rules.files.length }, 'rules reloaded');
        return { ok: true, rules: rules.rules.length };
      } catch (e) {
        const details = (e as { details?: { problems?: RuleProblem[] } }).details;
        lastError = { at: deps.clock.now(), message: errorMessage(e), problems: details?.problems ?? [] };
        log.error({ err: lastError.message }, 'rules reload refused; keeping the running rules');
        return { ok: false, error: lastError };
      }
    },
    lastReloadError: () => lastError,
    watch() {
      if (watcher) return;
      watcher = watch(deps.dir, (_event, file) => {
        if (file && !/\.ya?ml$/.test(String(file))) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => runtime.reload(), deps.debounceMs ?? 200);
      });
      watcher.on('error', (e) => log.warn({ err: errorMessage(e) }, 'rules folder watch failed'));
    },
    close() {
      if (timer) clearTimeout(timer);
      watcher?.close();
      watcher = undefined;
    },
  };

  if (deps.watch) runtime.watch();
  return runtime;
}

/** The last failed reload of a runtime, for the admin page. */
export function lastReloadError(runtime: RulesRuntime): ReloadError | null {
  return runtime.lastReloadError();
}
