import type { Department, Urgency } from '../config/index.ts';

/** One message as the rules see it. Everything the engine reads is here; it reads nothing else. */
export interface RuleInput {
  from: string;
  fromName?: string;
  to: string[];
  cc: string[];
  subject: string;
  /** Plain text body. Callers convert HTML to text when there is no text part (see fromParsedMail). */
  text: string;
  html?: string;
  /** Header values by lower-case name. */
  headers: Record<string, string[]>;
  attachments: { filename?: string; contentType: string; size: number }[];
  size: number;
  /** Ingest flags: auto_reply, bulk, bounce, loop, parse_error, ... */
  flags: string[];
  customer?: { segments: string[]; vip: boolean };
}

export interface MatchedRule {
  rule: string;
  explanation: string;
}

export interface Decision {
  department: Department;
  urgency: Urgency;
  tags: string[];
  assign?: string;
  autoReply?: string;
  copyTo?: Department[];
  matched: MatchedRule[];
  explanation: string[];
  /** Which rule set the department / urgency; null when the default applied. */
  decidedBy: { department: string | null; urgency: string | null };
}

/** Everything a rule's `then` may do. */
export interface RuleActions {
  department?: Department;
  urgency?: Urgency;
  tags: string[];
  assign?: string;
  autoReply?: string;
  copyTo: Department[];
  stop: boolean;
}

/** Where a rule came from, for error messages and the admin page. */
export interface RuleSource {
  file: string;
  line: number;
}

/**
 * A compiled condition. `test` is the hot path and allocates nothing; `explain` runs only for
 * rules that matched and says in words what matched.
 */
export interface Condition {
  test(ctx: MatchContext): boolean;
  explain(ctx: MatchContext): string;
  /** The condition in words, for `not (...)`. */
  describe(): string;
  /**
   * Keywords (pattern ids) of which at least one must be found for the condition to hold, or
   * null when it can hold without any. Lets the engine skip rules whose keywords are absent.
   */
  trigger?: number[] | null;
}

/** What a condition can ask about the message; lazily computed, once per message. */
export interface MatchContext {
  input: RuleInput;
  /** Normalised text of a field ('subject', 'body', 'from', 'to', 'cc', 'attachment', 'header.x'). */
  text(field: string): string;
  /** Keyword (pattern id) hits found in a field. */
  hits(field: string): ReadonlySet<number>;
  /** The field's separate values, normalised (addresses, header values, attachment names), for equals. */
  values(field: string): string[];
}

export interface CompiledRule {
  name: string;
  priority: number;
  when: Condition;
  /** The rule's `then`. */
  actions: RuleActions;
  source: RuleSource;
}

export interface RuleSet {
  rules: CompiledRule[];
  defaultDepartment: Department;
  /** Normalises text the same way keywords were normalised. */
  normalise(text: string): string;
  /** Finds every keyword (by pattern id) in already-normalised text. */
  scan(normalised: string): Set<number>;
  files: string[];
  loadedAt: number | null;
  /** Prefilter: rules (by index) each keyword can trigger, rules that must always be tested. */
  index: { byPattern: Map<number, number[]>; always: number[]; keywordFields: string[] };
}
