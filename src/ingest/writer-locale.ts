import { chineseScriptOf } from '../lib/index.ts';
import type { ParsedMessage } from './parse.ts';

/**
 * The language a customer writes in, so replies can be in it: the Content-Language header when it
 * names Chinese or English, else the script of the subject and text (Simplified or Traditional
 * Chinese), else null (unknown: the customer's locale stays unset and replies fall back to English).
 */
export function writerLocale(p: Pick<ParsedMessage, 'headers' | 'subject' | 'text'>): string | null {
  const declared = (p.headers['content-language']?.[0] ?? '').split(',')[0]?.trim().toLowerCase() ?? '';
  if (/^zh-(tw|hk|mo|hant)\b/.test(declared)) return 'zh-TW';
  if (/^zh(-(cn|sg|hans))?\b/.test(declared)) return 'zh-CN';
  if (/^en\b/.test(declared)) return 'en';
  return chineseScriptOf(`${p.subject}\n${(p.text ?? '').slice(0, 4_000)}`);
}
