import { listLocale } from './locale.ts';
import type { ListRow } from './types.ts';

/**
 * Confirmation and welcome mail wording, built in so double opt-in works before anyone writes
 * templates. English, Simplified and Traditional Chinese. List names are user data: HTML-escaped here.
 */

const escapeHtml = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const lang = (locale: string | null | undefined) => listLocale(locale) ?? 'en';

const CONFIRM = {
  en: {
    subject: (n: string) => `Please confirm your subscription to ${n}`,
    body: (n: string) =>
      `You (or someone using your address) asked to receive "${n}". Confirm with this link; if it was not you, ignore this mail and nothing happens.`,
    button: 'Confirm subscription',
  },
  'zh-CN': {
    subject: (n: string) => `请确认订阅「${n}」`,
    body: (n: string) =>
      `您（或他人使用您的地址）申请订阅「${n}」。请点击下面的链接确认；如非本人操作，请忽略本邮件。`,
    button: '确认订阅',
  },
  'zh-TW': {
    subject: (n: string) => `請確認訂閱「${n}」`,
    body: (n: string) =>
      `您（或他人使用您的地址）申請訂閱「${n}」。請點擊下面的連結確認；如非本人操作，請忽略本郵件。`,
    button: '確認訂閱',
  },
} as const;

const WELCOME = {
  en: {
    subject: (n: string) => `Welcome to ${n}`,
    body: (n: string) => `You are now subscribed to "${n}". You can leave at any time:`,
    leave: 'Unsubscribe',
  },
  'zh-CN': {
    subject: (n: string) => `欢迎订阅「${n}」`,
    body: (n: string) => `您已成功订阅「${n}」。您可以随时退订：`,
    leave: '退订',
  },
  'zh-TW': {
    subject: (n: string) => `歡迎訂閱「${n}」`,
    body: (n: string) => `您已成功訂閱「${n}」。您可以隨時退訂：`,
    leave: '退訂',
  },
} as const;

export interface BuiltMail {
  subject: string;
  html: string;
  text: string;
}

export function confirmationMail(list: ListRow, locale: string | null, url: string): BuiltMail {
  const t = CONFIRM[lang(locale)];
  return {
    subject: t.subject(list.name),
    text: `${t.body(list.name)}\n\n${url}\n`,
    html: `<p>${escapeHtml(t.body(list.name))}</p><p><a href="${escapeHtml(url)}">${t.button}</a></p>`,
  };
}

export function welcomeMail(list: ListRow, locale: string | null, unsubscribeUrl: string): BuiltMail {
  const t = WELCOME[lang(locale)];
  return {
    subject: t.subject(list.name),
    text: `${t.body(list.name)}\n${unsubscribeUrl}\n`,
    html: `<p>${escapeHtml(t.body(list.name))} <a href="${escapeHtml(unsubscribeUrl)}">${t.leave}</a></p>`,
  };
}
