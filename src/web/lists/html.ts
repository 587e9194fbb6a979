/** Minimal, dependency-free HTML for the public list pages (no scripts, works without CSS). */

import type { ListLocale } from '../../lists/index.ts';

export function esc(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/**
 * A public page. Its styles are a file under /static/: the pages' own policy allows style-src
 * 'self' only, so an inline <style> was refused, leaving the pages unstyled and the hidden anti-bot
 * field on show (people filled it in and were silently not subscribed).
 */
export function page(title: string, body: string, lang: ListLocale = 'en'): string {
  return `<!doctype html>
<html lang="${esc(lang)}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${esc(title)}</title>
<link rel="stylesheet" href="/static/lists.css"></head>
<body><main><h1>${esc(title)}</h1>
${body}
</main></body></html>`;
}

/** Names of the languages, each in itself, for the language links on the subscribe form. */
export const LANGUAGE_NAMES: Record<ListLocale, string> = {
  en: 'English',
  'zh-CN': '简体中文',
  'zh-TW': '繁體中文',
};

export interface PublicText {
  notFound: string;
  noSuchList: string;
  email: string;
  name: string;
  leaveEmpty: string;
  subscribe: string;
  almostDone: string;
  /** The same answer whatever happened, so the page never tells whether an address is subscribed. */
  neutral: string;
  confirmedTitle: string;
  subscribedTo: (list: string) => string;
  unsubscribeTitle: string;
  mailTo: (email: string) => string;
  onlyList: (list: string) => string;
  allLists: string;
  unsubscribeButton: string;
  unsubscribedTitle: string;
  unsubscribedList: string;
  unsubscribedAll: string;
  linkNotValid: string;
  checkInput: string;
  /** By MailroomError code; English pages show the error's own message instead. */
  errors: Record<'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'NOT_FOUND' | 'VALIDATION', string>;
}

/** Every word on the public list pages, in each language. */
export const PUBLIC_TEXT: Record<ListLocale, PublicText> = {
  en: {
    notFound: 'Not found',
    noSuchList: 'There is no such list.',
    email: 'Email',
    name: 'Name',
    leaveEmpty: 'Leave empty',
    subscribe: 'Subscribe',
    almostDone: 'Almost done',
    neutral:
      'Thank you. If this address can be subscribed, a mail is on its way: follow the link in it to confirm.',
    confirmedTitle: 'Subscription confirmed',
    subscribedTo: (list) => `You are subscribed to ${list}.`,
    unsubscribeTitle: 'Unsubscribe',
    mailTo: (email) => `Mail to ${email}.`,
    onlyList: (list) => `Only ${list}`,
    allLists: 'All lists',
    unsubscribeButton: 'Unsubscribe',
    unsubscribedTitle: 'Unsubscribed',
    unsubscribedList: 'You will get no more mail from this list.',
    unsubscribedAll: 'You will get no more mail from our lists.',
    linkNotValid: 'Link not valid',
    checkInput: 'Please check your entry',
    errors: {
      TOKEN_INVALID: 'This link is not valid; use the link from the mail.',
      TOKEN_EXPIRED: 'This link has expired; subscribe again to get a new confirmation mail.',
      NOT_FOUND: 'There is no such list.',
      VALIDATION: 'This is not an email address.',
    },
  },
  'zh-CN': {
    notFound: '未找到',
    noSuchList: '没有这个邮件列表。',
    email: '电子邮箱',
    name: '姓名',
    leaveEmpty: '请留空',
    subscribe: '订阅',
    almostDone: '就差一步',
    neutral: '谢谢。如果这个地址可以订阅，确认邮件已经发出：请点击邮件中的链接完成确认。',
    confirmedTitle: '订阅已确认',
    subscribedTo: (list) => `您已订阅「${list}」。`,
    unsubscribeTitle: '退订',
    mailTo: (email) => `发往 ${email} 的邮件。`,
    onlyList: (list) => `仅退订「${list}」`,
    allLists: '退订全部列表',
    unsubscribeButton: '退订',
    unsubscribedTitle: '已退订',
    unsubscribedList: '您将不再收到这个列表的邮件。',
    unsubscribedAll: '您将不再收到我们任何列表的邮件。',
    linkNotValid: '链接无效',
    checkInput: '请检查您填写的内容',
    errors: {
      TOKEN_INVALID: '此链接无效或已失效；请使用邮件中的链接，或重新订阅。',
      TOKEN_EXPIRED: '此链接已过期；请重新订阅以获取新的确认邮件。',
      NOT_FOUND: '没有这个邮件列表。',
      VALIDATION: '这不是有效的电子邮箱地址。',
    },
  },
  'zh-TW': {
    notFound: '找不到',
    noSuchList: '沒有這個郵件列表。',
    email: '電子郵件',
    name: '姓名',
    leaveEmpty: '請留空',
    subscribe: '訂閱',
    almostDone: '只差一步',
    neutral: '謝謝。如果這個地址可以訂閱，確認郵件已經寄出：請點擊郵件中的連結完成確認。',
    confirmedTitle: '訂閱已確認',
    subscribedTo: (list) => `您已訂閱「${list}」。`,
    unsubscribeTitle: '取消訂閱',
    mailTo: (email) => `寄往 ${email} 的郵件。`,
    onlyList: (list) => `僅取消訂閱「${list}」`,
    allLists: '取消訂閱全部列表',
    unsubscribeButton: '取消訂閱',
    unsubscribedTitle: '已取消訂閱',
    unsubscribedList: '您將不再收到這個列表的郵件。',
    unsubscribedAll: '您將不再收到我們任何列表的郵件。',
    linkNotValid: '連結無效',
    checkInput: '請檢查您填寫的內容',
    errors: {
      TOKEN_INVALID: '此連結無效或已失效；請使用郵件中的連結，或重新訂閱。',
      TOKEN_EXPIRED: '此連結已過期；請重新訂閱以取得新的確認郵件。',
      NOT_FOUND: '沒有這個郵件列表。',
      VALIDATION: '這不是有效的電子郵件地址。',
    },
  },
};
