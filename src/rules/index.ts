export { KeywordAutomaton } from './aho-corasick.ts';
export {
  type CorrectionInput,
  DEFAULT_RULE,
  getDecision,
  latestDecisionFor,
  mostOverriddenRules,
  type OverriddenRule,
  recordCorrection,
  type StoredDecision,
  saveDecision,
} from './decisions.ts';
export { evaluate, MAX_BODY_CHARS } from './engine.ts';
export { bodyText, fromParsedMail, headerFlags } from './from-parsed-mail.ts';
export { formatGoldenFailures, type GoldenResult, runGoldenTests } from './golden.ts';
export {
  compileRules,
  type LoadRulesOptions,
  listRuleFiles,
  loadRules,
  type RuleProblem,
  type RulesFileText,
} from './load.ts';
export { createNormaliser, type Normaliser } from './normalise.ts';
export { type ReplayChange, type ReplayResult, replay } from './replay.ts';
export {
  createRulesRuntime,
  lastReloadError,
  type ReloadError,
  type RulesRuntime,
  type RulesRuntimeDeps,
} from './runtime.ts';
export type { CompiledRule, Decision, MatchedRule, RuleInput, RuleSet } from './types.ts';
