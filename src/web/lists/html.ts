/** Minimal, dependency-free HTML for the public list pages (no scripts, works without CSS). */

export function esc(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
.hp{position:absolute;left:-10000px}button{font-size:1rem;padding:.5rem 1rem}</style></head>
<body><main><h1>${esc(title)}</h1>
${body}
</main></body></html>`;
}
