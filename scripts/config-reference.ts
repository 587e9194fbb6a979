// Rewrites the configuration reference in README.md from the schema: node --import tsx scripts/config-reference.ts
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { configReferenceMarkdown, PROJECT_ROOT } from '../src/config/index.ts';

const file = path.join(PROJECT_ROOT, 'README.md');
const readme = readFileSync(file, 'utf8');
const start = '<!-- config-reference:start -->';
const end = '<!-- config-reference:end -->';
const next = readme.replace(
  new RegExp(`${start}[\\s\\S]*?${end}`),
  `${start}\n${configReferenceMarkdown()}\n${end}`,
);
writeFileSync(file, next);
console.log(
  next === readme
    ? 'README.md: configuration reference already up to date'
    : 'README.md: configuration reference updated',
);
