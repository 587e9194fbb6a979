-- rules: the decision stored for every classified message, and staff corrections of it.
-- Times are integer milliseconds since the Unix epoch (UTC).

-- One decision per message (a re-classification replaces it). rules: names of every rule that
-- matched; department_rule / urgency_rule: the rule that set each value (NULL = the default).
CREATE TABLE rule_decisions (
  message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  conversation_id INTEGER REFERENCES conversations(id),
  department TEXT NOT NULL,
  urgency TEXT NOT NULL CHECK (urgency IN ('urgent', 'normal', 'thanks')),
  tags TEXT NOT NULL DEFAULT '[]',
  rules TEXT NOT NULL DEFAULT '[]',
  department_rule TEXT,
  urgency_rule TEXT,
  explanation TEXT NOT NULL DEFAULT '[]',
  decided_at INTEGER NOT NULL
);
CREATE INDEX rule_decisions_conversation ON rule_decisions(conversation_id, decided_at);

-- A staff member moving a conversation to another department or urgency. rules: the rule names
-- that had decided the overridden value, for the "most overridden rules" report.
CREATE TABLE rule_corrections (
  id INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations(id),
  field TEXT NOT NULL CHECK (field IN ('department', 'urgency')),
  old_value TEXT NOT NULL,
  new_value TEXT NOT NULL,
  user TEXT NOT NULL,
  at INTEGER NOT NULL,
  rules TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX rule_corrections_at ON rule_corrections(at);
CREATE INDEX rule_corrections_conversation ON rule_corrections(conversation_id);
