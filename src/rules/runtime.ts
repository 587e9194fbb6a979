import { type FSWatcher, watch } from 'node:fs';
import path from 'node:path';
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
  let watching = false;
  const debounceMs = deps.debounceMs ?? 200;
  const folderName = path.basename(deps.dir);

  const refuse = (message: string, problems: RuleProblem[] = []) => {
    lastError = { at: deps.clock.now(), message, problems };
    log.error({ err: message }, 'rules reload refused; keeping the running rules');
    return { ok: false as const, error: lastError };
  };

  /**
   * fs.watch follows the folder it was given: when the folder itself is replaced (rm -rf and a
   * fresh copy, a symlink swap as in a Kubernetes ConfigMap) or the watch fails, it goes quiet for
   * good. So those events, and errors, start a new watch on the path (once it exists again).
   */
  function arm(): void {
    watcher?.close();
    watcher = undefined;
    if (!watching) return;
    try {
      watcher = watch(deps.dir, (_event, file) => {
        const name = file === null ? null : String(file);
        const replaced = name === null || name === folderName || name.startsWith('..');
        if (!replaced && !/\.ya?ml$/.test(name)) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          if (replaced) arm();
          runtime.reload();
        }, debounceMs);
      });
      watcher.on('error', (e) => {
        log.warn({ err: errorMessage(e) }, 'rules folder watch failed; watching it again');
        rearmLater();
      });
    } catch (e) {
      // Gone for the moment (being replaced), or no inotify watch left (ENOSPC): try again.
      log.warn({ err: errorMessage(e), dir: deps.dir }, 'rules folder cannot be watched yet; SIGHUP reloads');
      rearmLater();
    }
  }
  function rearmLater(): void {
    watcher?.close();
    watcher = undefined;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      arm();
      if (watcher) runtime.reload();
    }, 2000);
    timer.unref();
  }

  const runtime: RulesRuntime = {
    current: () => rules,
    reload() {
      try {
        const next = load();
        // A folder that is being replaced can be read empty for a moment: that is not a rule set.
        if (next.files.length === 0 && rules.files.length > 0)
          return refuse(`no rules files in ${deps.dir}; the running rules stay until some are there`);
        rules = next;
        lastError = null;
        log.info({ rules: rules.rules.length, files: rules.files.length }, 'rules reloaded');
        return { ok: true, rules: rules.rules.length };
      } catch (e) {
        const details = (e as { details?: { problems?: RuleProblem[] } }).details;
        return refuse(errorMessage(e), details?.problems ?? []);
      }
    },
    lastReloadError: () => lastError,
    watch() {
      if (watching) return;
      watching = true;
      arm();
    },
    close() {
      watching = false;
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
