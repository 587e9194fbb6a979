import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { localeChain } from './locales.ts';

export interface CannedReply {
  name: string;
  text: string;
}

/**
 * Canned responses staff insert into a reply: `templates/<locale>/_canned/<name>.txt`, first line
 * the title shown in the picker, the rest the text. The user's locale first, then its fallbacks
 * (zh-TW → en), so a shop can translate some snippets and not others. Read on each request: they
 * are small, and an edit shows up without a restart.
 */
export function loadCannedReplies(templatesDir: string, locale: string): CannedReply[] {
  const seen = new Set<string>();
  const out: CannedReply[] = [];
  for (const loc of localeChain(locale)) {
    const dir = path.join(templatesDir, loc, '_canned');
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.txt'));
    } catch {
      continue;
    }
    for (const f of files.sort()) {
      const key = f.slice(0, -4);
      if (seen.has(key)) continue;
      seen.add(key);
      const [title = key, ...rest] = readFileSync(path.join(dir, f), 'utf8')
        .replace(/\r\n/g, '\n')
        .split('\n');
      out.push({ name: title.trim() || key, text: rest.join('\n').trim() });
    }
  }
  return out;
}
