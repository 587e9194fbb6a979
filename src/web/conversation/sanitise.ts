import sanitizeHtml from 'sanitize-html';

const BASE_ATTRIBUTES: Record<string, string[]> = {
  a: ['href', 'title', 'target', 'rel'],
  img: ['src', 'alt', 'title', 'width', 'height'],
  td: ['colspan', 'rowspan', 'align', 'valign', 'width'],
  th: ['colspan', 'rowspan', 'align', 'valign', 'width'],
  table: ['width', 'align', 'cellpadding', 'cellspacing', 'border'],
  font: ['color', 'size', 'face'],
  '*': ['dir', 'lang'],
};

/**
 * The policy every view of mail HTML shares: the tags mail layouts use, no script, <style>, event
 * handler, form or frame, links open outside the page. Each view adds attributes per tag, says
 * which schemes images may use, and may transform images.
 */
export function mailHtmlOptions(o: {
  extraAttributes?: Record<string, string[]>;
  imgSchemes: string[];
  img?: sanitizeHtml.Transformer;
}): sanitizeHtml.IOptions {
  const allowedAttributes: Record<string, string[]> = { ...BASE_ATTRIBUTES };
  for (const [tag, extra] of Object.entries(o.extraAttributes ?? {}))
    allowedAttributes[tag] = [...(allowedAttributes[tag] ?? []), ...extra];
  return {
    allowedTags: [
      ...sanitizeHtml.defaults.allowedTags.filter((t) => t !== 'style'),
      'img',
      'font',
      'center',
      'del',
      'ins',
      'u',
    ],
    allowedAttributes,
    allowedSchemes: ['http', 'https', 'mailto', 'tel'],
    allowedSchemesByTag: { img: o.imgSchemes },
    allowProtocolRelative: false,
    disallowedTagsMode: 'discard',
    nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'title', 'head'],
    transformTags: {
      a: (tagName, attribs) => ({
        tagName,
        attribs: { ...attribs, target: '_blank', rel: 'noopener noreferrer nofollow' },
      }),
      ...(o.img ? { img: o.img } : {}),
    },
  };
}

/**
 * Customer HTML as staff may see it: no script, style, event handler, form or frame; links open
 * outside the page; remote images keep their address in data-src until staff choose to load them
 * (a remote image is a read receipt and can carry tracking). The result is shown in a sandboxed
 * iframe with its own CSP, so even a sanitiser bug cannot run script in the staff page.
 */
export function sanitiseMailHtml(html: string, opts: { remoteImages: boolean }): string {
  return sanitizeHtml(
    html,
    mailHtmlOptions({
      extraAttributes: { img: ['data-src'] },
      imgSchemes: opts.remoteImages ? ['http', 'https', 'data'] : ['data'],
      img: (tagName, attribs) => {
        const src = attribs.src ?? '';
        if (!opts.remoteImages && /^(https?:)?\/\//i.test(src)) {
          const { src: _drop, ...rest } = attribs;
          return { tagName, attribs: { ...rest, 'data-src': src, alt: rest.alt ?? '[image]' } };
        }
        return { tagName, attribs };
      },
    }),
  );
}

/** True when the HTML references remote images that were held back. */
export function hasRemoteImages(html: string): boolean {
  return /<img[^>]+src\s*=\s*["']?\s*(https?:)?\/\//i.test(html);
}

export function frameDocument(body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><style>body{font:14px/1.5 system-ui,sans-serif;margin:8px;color:#222;word-wrap:break-word}img{max-width:100%}img[data-src]{display:inline-block;min-width:40px;min-height:20px;background:#eee;border:1px dashed #aaa}</style></head><body>${body}</body></html>`;
}

export function frameCsp(remoteImages: boolean): string {
  return [
    "default-src 'none'",
    `img-src data:${remoteImages ? ' https: http:' : ''}`,
    "style-src 'unsafe-inline'",
    "frame-ancestors 'self'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
}
