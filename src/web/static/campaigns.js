// mailroom campaigns page: live progress counts and the composer's template preview. Without
// this file the page still shows the counts as of loading it and the preview of the template
// first chosen; no inline script anywhere, the CSP only allows files like this one.
(() => {
  // ---- Live progress: poll the JSON endpoint, write the numbers into the rows ----------------
  const table = document.getElementById('campaigns');
  const url = table?.getAttribute('data-progress-url');
  if (table && url) {
    const FAST = 3000;
    const SLOW = 15000;
    const rows = () => Array.from(table.querySelectorAll('tr[data-campaign]'));
    let timer = 0;
    const schedule = (ms) => {
      clearTimeout(timer);
      timer = setTimeout(poll, ms);
    };
    async function poll() {
      if (document.hidden) return schedule(FAST);
      const ids = rows().map((r) => r.getAttribute('data-campaign'));
      if (ids.length === 0) return;
      let data;
      try {
        const res = await fetch(`${url}?ids=${ids.join(',')}`, {
          credentials: 'same-origin',
          headers: { accept: 'application/json' },
        });
        // Logged out or no longer allowed: stop rather than poll a login page for ever.
        if (res.status === 401 || res.status === 403) return;
        if (!res.ok) return schedule(SLOW);
        data = await res.json();
      } catch {
        return schedule(SLOW);
      }
      let live = false;
      const changed = [];
      for (const c of data.campaigns ?? []) {
        const row = table.querySelector(`tr[data-campaign="${Number(c.id)}"]`);
        if (!row) continue;
        for (const el of row.querySelectorAll('[data-p]')) {
          const v = c[el.getAttribute('data-p')];
          if (v !== undefined && v !== null && el.textContent !== String(v)) el.textContent = String(v);
        }
        if (c.status && !row.classList.contains(`status-${c.status}`)) changed.push(Number(c.id));
        if (c.live) live = true;
      }
      // A new status brings other buttons (pause instead of start...): take those rows from a
      // fresh copy of this page rather than rebuilding forms here.
      if (changed.length > 0) await refreshRows(changed);
      table.setAttribute('data-updated', String(data.at ?? Date.now()));
      schedule(live ? FAST : SLOW);
    }
    async function refreshRows(ids) {
      try {
        const res = await fetch(window.location.pathname, { credentials: 'same-origin' });
        if (!res.ok) return;
        const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
        for (const id of ids) {
          const fresh = doc.getElementById(`c${id}`);
          const old = document.getElementById(`c${id}`);
          // Not while the marketer is typing in that row (a schedule time, test addresses).
          if (fresh && old && !old.contains(document.activeElement))
            old.replaceWith(document.importNode(fresh, true));
        }
      } catch {}
    }
    const note = document.getElementById('live-note');
    if (note) note.hidden = false;
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) schedule(0);
    });
    schedule(FAST);
  }

  // ---- Composer preview: follow the chosen template, first list and subject -------------------
  const box = document.getElementById('composer-preview');
  const form = document.getElementById('new-campaign');
  if (box && form) {
    const frameUrl = box.getAttribute('data-frame-url');
    const pageUrl = box.getAttribute('data-page-url');
    const link = document.getElementById('preview-link');
    const source = document.getElementById('preview-source');
    document.getElementById('preview-source-label')?.removeAttribute('hidden');
    const params = () => {
      const p = new URLSearchParams();
      p.set('template', (form.elements.namedItem('template')?.value ?? '').trim());
      p.set('source', source?.value ?? 'sample');
      const subject = (form.elements.namedItem('subject')?.value ?? '').trim();
      if (subject) p.set('subject', subject);
      const lists = form.elements.namedItem('listIds');
      const first = lists?.selectedOptions?.[0]?.value;
      if (first) p.set('list', first);
      return p;
    };
    let shown = '';
    let pending = 0;
    const update = () => {
      clearTimeout(pending);
      pending = setTimeout(() => {
        const p = params();
        if (link && pageUrl) link.setAttribute('href', `${pageUrl}?${p}`);
        if (!p.get('template') || !frameUrl) return;
        const src = `${frameUrl}?${p}`;
        if (src === shown) return;
        shown = src;
        let frame = document.getElementById('preview-frame');
        if (!frame) {
          frame = document.createElement('iframe');
          frame.id = 'preview-frame';
          frame.className = 'mk-preview-frame';
          frame.setAttribute('sandbox', 'allow-popups allow-popups-to-escape-sandbox');
          frame.setAttribute('referrerpolicy', 'no-referrer');
          frame.title = link?.textContent ?? 'preview';
          box.appendChild(frame);
        }
        frame.setAttribute('src', src);
      }, 400);
    };
    for (const name of ['template', 'subject', 'listIds']) {
      const el = form.elements.namedItem(name);
      el?.addEventListener('change', update);
      if (name !== 'listIds') el?.addEventListener('input', update);
    }
    source?.addEventListener('change', update);
  }
})();
