// mailroom staff UI: keyboard shortcuts and live inbox updates. No inline script anywhere: the
// CSP only allows files like this one.
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
  // Countdowns run on the server's clock: the desk's clock may be off.
  const serverTime = Number(document.querySelector('meta[name="server-time"]')?.getAttribute('content'));
  const skew = Number.isFinite(serverTime) && serverTime > 0 ? serverTime - Date.now() : 0;

  function post(url, fields) {
    const body = new URLSearchParams(fields);
    return fetch(url, {
      method: 'POST',
      headers: { 'x-csrf-token': csrf, 'content-type': 'application/x-www-form-urlencoded' },
      body,
      credentials: 'same-origin',
    });
  }

  function typing(e) {
    const t = e.target;
    return t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }

  const rows = () => Array.from(document.querySelectorAll('#conversations tbody tr.row'));
  let current = -1;
  function select(i) {
    const list = rows();
    if (list.length === 0) return;
    current = Math.max(0, Math.min(list.length - 1, i));
    list.forEach((r, j) => {
      r.classList.toggle('selected', j === current);
    });
    list[current].scrollIntoView({ block: 'nearest' });
  }
  function selectedId() {
    const conv = document.querySelector('.conversation[data-id]');
    if (conv) return conv.getAttribute('data-id');
    const r = rows()[current];
    return r ? r.getAttribute('data-id') : null;
  }

  document.addEventListener('keydown', async (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === 'j') select(current + 1);
    else if (e.key === 'k') select(current - 1);
    else if (e.key === 'Enter' && current >= 0) {
      const r = rows()[current];
      if (r) window.location.href = r.getAttribute('data-href');
    } else if (e.key === 'a' || e.key === 'c') {
      const id = selectedId();
      if (!id) return;
      const res = await post(`/c/${id}/${e.key === 'a' ? 'assign' : 'close'}`, { assignee: '@me' });
      if (res.ok) window.location.reload();
    } else return;
    e.preventDefault();
  });

  document.addEventListener('click', (e) => {
    const row = e.target instanceof Element ? e.target.closest('#conversations tr.row') : null;
    if (row && !(e.target instanceof HTMLAnchorElement)) window.location.href = row.getAttribute('data-href');
  });

  // SLA due times as "in 3 h 20 min" / "2 h 5 min ago", refreshed every 30 s.
  function relative() {
    for (const el of document.querySelectorAll('time.countdown, #conversations td.sla time')) {
      const iso = el.getAttribute('datetime');
      if (!iso) continue;
      const ms = Date.parse(iso) - (Date.now() + skew);
      const m = Math.round(Math.abs(ms) / 60000);
      const text = `${Math.floor(m / 60)} h ${m % 60} min`;
      if (!el.hasAttribute('title')) el.setAttribute('title', el.textContent || '');
      el.textContent = ms >= 0 ? `in ${text}` : `${text} ago`;
    }
  }
  relative();
  setInterval(relative, 30000);

  // Live inbox: refetch this page every 60 s and swap the list and counts, keeping the selection.
  const table = document.getElementById('conversations');
  if (table || document.querySelector('.inbox')) {
    setInterval(async () => {
      if (document.hidden) return;
      const res = await fetch(window.location.href, { credentials: 'same-origin' });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      for (const sel of ['.views', '.list .conversations', '.list .empty', '.pager']) {
        const fresh = doc.querySelector(sel);
        const old = document.querySelector(sel);
        if (fresh && old) old.replaceWith(document.importNode(fresh, true));
      }
      if (current >= 0) select(current);
      relative();
    }, 60000);
  }

  // Reply composer: insert a canned response at the cursor; preview shows the text as it will be sent.
  const text = document.getElementById('reply-text');
  document.getElementById('canned-insert')?.addEventListener('click', () => {
    const sel = document.getElementById('canned-select');
    const opt = sel?.selectedOptions?.[0];
    const canned = opt?.getAttribute('data-text');
    if (!text || !canned) return;
    const at = text.selectionStart ?? text.value.length;
    text.value = `${text.value.slice(0, at)}${canned}${text.value.slice(text.selectionEnd ?? at)}`;
    text.focus();
  });
  document.getElementById('reply-preview-button')?.addEventListener('click', () => {
    const out = document.getElementById('reply-preview');
    if (!out || !text) return;
    out.textContent = text.value;
    out.hidden = false;
  });
})();
