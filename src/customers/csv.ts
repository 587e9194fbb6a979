import { ErrorCodes, MailroomError } from '../lib/index.ts';

/**
 * A small RFC 4180 reader: quoted fields with "" escapes, commas and line breaks inside quotes,
 * CRLF or LF, a UTF-8 BOM (Excel writes one). Each record keeps the line it starts on, so an
 * import report can point at the line a shop owner sees in their editor. Small enough not to
 * justify a dependency.
 */

export interface CsvRecord {
  line: number;
  fields: string[];
}

export function parseCsv(text: string): CsvRecord[] {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let startLine = 1;
  let fieldStarted = false;
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '' && !fieldStarted))
      records.push({ line: startLine, fields });
    fields = [];
    field = '';
    fieldStarted = false;
  };
  for (let i = 0; i < src.length; i++) {
    const ch = src[i] as string;
    if (quoted) {
      if (ch === '"') {
        if (src[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field === '') {
      quoted = true;
      fieldStarted = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
      fieldStarted = true;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && src[i + 1] === '\n') i++;
      endRecord();
      line++;
      startLine = line;
    } else {
      field += ch;
      fieldStarted = true;
    }
  }
  if (quoted) {
    throw new MailroomError(
      ErrorCodes.VALIDATION,
      `line ${startLine}: a quoted field is never closed (missing ")`,
    );
  }
  if (field !== '' || fields.length > 0 || fieldStarted) endRecord();
  return records;
}

/** Records as objects keyed by the (trimmed, lower-cased) header row. */
export function csvObjects(text: string): Array<{ line: number; row: Record<string, string> }> {
  const [header, ...rest] = parseCsv(text);
  if (!header) return [];
  const keys = header.fields.map((h) => h.trim().toLowerCase());
  return rest.map((r) => {
    const row: Record<string, string> = {};
    keys.forEach((k, i) => {
      if (k) row[k] = (r.fields[i] ?? '').trim();
    });
    return { line: r.line, row };
  });
}
