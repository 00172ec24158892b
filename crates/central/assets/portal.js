// The patient portal.
//
// - login with the My Number card through the local card helper (`kakunin card-helper`, its
//   URL from GET /portal/api/config): the central gives a nonce, the helper has the card sign
//   the portal login challenge after its PIN, the central checks it and sets an HttpOnly
//   session cookie;
// - 資格情報 (GET /portal/api/me), 閲覧履歴 (GET /portal/api/access-log), the person's own
//   records (GET /portal/api/medical/{category}), 同意 (GET /portal/api/consents, POST
//   /portal/api/consents/withdraw), 情報提供の設定 (GET/POST /portal/api/blocks and
//   /portal/api/sharing), データの書き出し (GET /portal/api/export, and as FHIR GET /portal/api/fhir/Patient/$everything).
//
// Nothing personal goes into a URL or browser storage: data lives in this page's memory and is
// dropped at logout or when the session ends. The PIN is read from its field, cleared at once
// and sent only to the card helper on this machine.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- DOM helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false || c === '') continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const DASH = '—';

  // ---------------------------------------------------------------- formatting

  // "19800101" → "1980年1月1日".
  function fmtDate8(s) {
    if (typeof s !== 'string' || !/^\d{8}$/.test(s)) return s || DASH;
    return `${s.slice(0, 4)}年${Number(s.slice(4, 6))}月${Number(s.slice(6, 8))}日`;
  }

  // "202611" → "2026年11月".
  function fmtMonth6(s) {
    if (typeof s !== 'string' || !/^\d{6}/.test(s)) return s || DASH;
    return `${s.slice(0, 4)}年${Number(s.slice(4, 6))}月`;
  }

  // "2026-11-24T09:01:02.123+09:00" → "2026/11/24 09:01" (the server's JST wall clock).
  function fmtAt(s) {
    const m = typeof s === 'string' ? /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(s) : null;
    return m ? `${m[1]}/${m[2]}/${m[3]} ${m[4]}:${m[5]}` : s || DASH;
  }

  // "20261116" → "2026/11/16" (in tables).
  function fmtDay(s) {
    if (typeof s !== 'string' || !/^\d{8}$/.test(s)) return s || DASH;
    return `${s.slice(0, 4)}/${s.slice(4, 6)}/${s.slice(6, 8)}`;
  }

  // A cell that never wraps (dates, short codes).
  function nw(text) {
    return h('span', { class: 'p-nowrap' }, text);
  }

  function fmtTime(s) {
    const m = typeof s === 'string' ? /T(\d{2}):(\d{2})/.exec(s) : null;
    return m ? `${m[1]}:${m[2]}` : '';
  }

  // "030" → "3割".
  function copayLabel(ratio) {
    if (typeof ratio !== 'string' || !/^\d+$/.test(ratio)) return ratio || DASH;
    const n = Number(ratio) / 10;
    return `${Number.isInteger(n) ? n : n.toFixed(1)}割`;
  }

  function readable(s) {
    return typeof s === 'string' ? s.normalize('NFKC') : '';
  }

  function institutionCell(name, code) {
    return h('span', { class: 'p-inst' },
      h('span', { class: 'p-inst-name' }, name || '名称未登録の医療機関'),
      h('span', { class: 'p-inst-code' }, `医療機関コード ${code || DASH}`));
  }

  const RELATIONSHIP = { 1: '本人', 2: '家族' };
  const SEX = { 1: '男', 2: '女', 3: '未設定' };
  const CARE_KIND = { pharmacy: '調剤', outpatient: '外来', inpatient: '入院', dental: '歯科' };
  const CATEGORY_NAMES = {
    medications: 'お薬',
    treatments: '診療',
    surgeries: '手術',
    checkups: '健診',
  };

  // ---------------------------------------------------------------- state (memory only)

  let helperUrl = 'http://127.0.0.1:8091';
  let sessionTimer = null;
  let currentTab = 'qualifications';
  let accessLog = [];
  let blocks = [];
  let medicalCategory = 'medications';

  function forget() {
    flash('');
    accessLog = [];
    blocks = [];
    for (const id of ['qualifications', 'access-rows', 'medical', 'consent-rows', 'blocks']) {
      $(id).replaceChildren();
    }
    $('session-name').textContent = '';
    $('session-until').textContent = '';
    if (sessionTimer) clearTimeout(sessionTimer);
    sessionTimer = null;
  }

  // ---------------------------------------------------------------- messages

  let flashTimer = null;

  function flash(text, kind = 'ok') {
    const el = $('flash');
    el.className = `p-flash p-flash-${kind}`;
    if (!text) {
      el.textContent = '';
      el.hidden = true;
      return;
    }
    el.textContent = text;
    el.hidden = !text;
    if (flashTimer) clearTimeout(flashTimer);
    if (text && kind === 'ok') flashTimer = setTimeout(() => { el.hidden = true; }, 6000);
  }

  // ---------------------------------------------------------------- the central's API

  class SessionEnded extends Error {}

  // Calls the central; a 401 session_required returns to the login screen.
  async function api(method, path, body) {
    const init = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch {
      throw new Error('サーバに接続できません。通信環境を確認して、しばらくしてからもう一度お試しください。');
    }
    const data = r.status === 204 ? null : await r.json().catch(() => null);
    if (r.status === 401 && data && data.code === 'session_required') {
      sessionEnded('ログインの有効期限が切れました（30分）。もう一度ログインしてください。');
      throw new SessionEnded();
    }
    if (!r.ok) {
      const e = new Error((data && data.message) || `エラーが発生しました（${r.status}）。`);
      e.code = data && data.code;
      throw e;
    }
    return data;
  }

  // Shows an error of a loader in its container, unless the session ended.
  function failed(container, e) {
    if (e instanceof SessionEnded) return;
    container.replaceChildren(h('p', { class: 'p-error', role: 'alert' }, e.message));
  }

  // ---------------------------------------------------------------- screens

  function show(which) {
    $('loading').hidden = true;
    $('login').hidden = which !== 'login';
    $('app').hidden = which !== 'app';
    $('logout').hidden = which !== 'app';
    $('session').hidden = which !== 'app';
  }

  function sessionEnded(message) {
    forget();
    toLogin(message);
  }

  // ---------------------------------------------------------------- login

  function helperCommand() {
    let listen = '';
    try {
      const u = new URL(helperUrl);
      if (u.host !== '127.0.0.1:8091') listen = ` --listen ${u.host}`;
    } catch {
      /* the default */
    }
    return `kakunin card-helper --reader pcsc${listen} --allow-origin ${location.origin}`;
  }

  function helperMissing(missing) {
    $('helper-missing').hidden = !missing;
    $('helper-command').textContent = helperCommand();
    $('helper-origin').textContent = location.origin;
    $('login-submit').disabled = missing;
  }

  // Asks the helper which cards it offers (a demo directory lists them).
  async function probeHelper() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 4000);
    try {
      const r = await fetch(`${helperUrl}/cards`, { signal: abort.signal, cache: 'no-store' });
      const v = await r.json();
      helperMissing(false);
      const select = $('card');
      const cards = Array.isArray(v.cards) ? v.cards : [];
      const chosen = select.value;
      select.replaceChildren(...cards.map((c, i) =>
        h('option', { value: c }, `デモ用カード ${i + 1}（${c}）`)));
      if (cards.includes(chosen)) select.value = chosen;
      $('card-field').hidden = cards.length === 0;
      return true;
    } catch {
      helperMissing(true);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  function loginError(text, scroll = true) {
    const el = $('login-error');
    el.textContent = text || '';
    if (text && scroll) el.scrollIntoView({ block: 'nearest' });
  }

  // The login screen, with a note at its top (the session ended, logged out).
  function toLogin(message) {
    show('login');
    loginError('');
    $('login-notice').textContent = message || '';
    $('login-notice').hidden = !message;
    $('pin').value = '';
    probeHelper();
    $('login-title').focus();
  }

  async function login(ev) {
    ev.preventDefault();
    const pinField = $('pin');
    const pin = pinField.value;
    pinField.value = '';
    if (!/^\d{4}$/.test(pin)) {
      loginError('暗証番号は4桁の数字で入力してください。');
      pinField.focus();
      return;
    }
    const submit = $('login-submit');
    submit.disabled = true;
    submit.textContent = 'カードを確認しています…';
    loginError('');
    try {
      const { nonce } = await api('POST', '/portal/api/login/nonce');
      const card = $('card-field').hidden ? undefined : $('card').value || undefined;
      let r;
      try {
        r = await fetch(`${helperUrl}/portal-login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ nonce, pin, card }),
          cache: 'no-store',
        });
      } catch {
        helperMissing(true);
        loginError('カード読み取りアプリが起動していません。', false);
        $('helper-missing').scrollIntoView({ block: 'start' });
        return;
      }
      const proof = await r.json().catch(() => ({}));
      if (!r.ok) {
        loginError(proof.message || 'カードを読み取れませんでした。');
        pinField.focus();
        return;
      }
      const answer = await api('POST', '/portal/api/login', {
        certificate: proof.certificate,
        nonce,
        signature: proof.signature,
      });
      await enterApp(answer && answer.expires_at);
    } catch (e) {
      if (!(e instanceof SessionEnded)) {
        loginError(e.message);
        pinField.focus();
      }
    } finally {
      submit.disabled = !$('helper-missing').hidden;
      submit.textContent = 'ログイン';
    }
  }

  async function logout() {
    try {
      await api('POST', '/portal/api/logout');
    } catch {
      /* the cookie is cleared by the answer; nothing else to do */
    }
    forget();
    toLogin('ログアウトしました。');
  }

  // ---------------------------------------------------------------- the app

  async function enterApp(expiresAt) {
    loginError('');
    $('login-notice').hidden = true;
    show('app');
    if (expiresAt) {
      $('session-until').textContent = `ログイン中（${fmtTime(expiresAt)}まで）`;
      const left = Date.parse(expiresAt) - Date.now();
      if (left > 0) {
        sessionTimer = setTimeout(
          () => sessionEnded('ログインの有効期限が切れました（30分）。もう一度ログインしてください。'),
          left,
        );
      }
    } else {
      $('session-until').textContent = 'ログイン中';
    }
    selectTab('qualifications', false);
    $('app-title').focus();
    noticeEmergencies();
  }

  // 災害時: accesses without a card or consent are shown at once, whatever tab is open.
  async function noticeEmergencies() {
    const box = $('emergency-notice');
    try {
      const log = await api('GET', '/portal/api/access-log?limit=5000');
      const since = Date.now() - 90 * 24 * 3600 * 1000;
      const found = log.filter((a) => a.basis === 'emergency' && Date.parse(a.at) >= since);
      if (!found.length) {
        box.hidden = true;
        return;
      }
      const latest = found[0];
      box.replaceChildren(
        h('strong', null, `災害時モードによる確認・閲覧が${found.length}件ありました（最近90日）。`),
        ' ',
        `最新: ${fmtAt(latest.at)}・${latest.institution_name || `医療機関コード ${latest.institution_code}`}・${latest.basis_label}。「閲覧履歴」で確認できます。`,
      );
      box.hidden = false;
    } catch {
      box.hidden = true;
    }
  }

  // ---------------------------------------------------------------- tabs

  const LOADERS = {
    qualifications: loadQualifications,
    access: loadAccess,
    medical: () => loadMedical(medicalCategory),
    consents: loadConsents,
    sharing: loadSharing,
    export: async () => {},
  };

  function selectTab(name, focus = true) {
    if (name !== currentTab) flash('');
    currentTab = name;
    for (const tab of document.querySelectorAll('#tabs [role="tab"]')) {
      const on = tab.dataset.tab === name;
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      if (on && focus) tab.focus();
    }
    for (const panel of document.querySelectorAll('[data-panel]')) {
      panel.hidden = panel.dataset.panel !== name;
    }
    LOADERS[name]();
  }

  function tabKeys(ev) {
    const tabs = [...document.querySelectorAll('#tabs [role="tab"]')];
    const i = tabs.findIndex((t) => t.dataset.tab === currentTab);
    let next = null;
    if (ev.key === 'ArrowRight') next = tabs[(i + 1) % tabs.length];
    else if (ev.key === 'ArrowLeft') next = tabs[(i - 1 + tabs.length) % tabs.length];
    else if (ev.key === 'Home') next = tabs[0];
    else if (ev.key === 'End') next = tabs[tabs.length - 1];
    if (next) {
      ev.preventDefault();
      selectTab(next.dataset.tab);
    }
  }

  // ---------------------------------------------------------------- confirmation

  function confirmDialog(title, body, ok) {
    const d = $('confirm');
    $('confirm-title').textContent = title;
    $('confirm-body').textContent = body;
    $('confirm-ok').textContent = ok;
    return new Promise((resolve) => {
      d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
      d.returnValue = '';
      d.showModal();
      $('confirm-cancel').focus();
    });
  }

  // ---------------------------------------------------------------- 資格情報

  function dl(pairs) {
    return h('dl', { class: 'p-dl' },
      pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
        .map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))));
  }

  function qualificationCard(q) {
    const numbers = [
      q.symbol ? `記号 ${q.symbol}` : null,
      `番号 ${q.number}`,
      q.branch ? `枝番 ${q.branch}` : null,
    ].filter(Boolean).join('　');
    const limit = q.limit_certificate
      ? `区分 ${q.limit_certificate.bracket}（${q.limit_certificate.bracket_label}）`
      : null;
    const elderly = q.elderly_certificate
      ? `負担割合 ${copayLabel(q.elderly_certificate.copay_ratio)}（${fmtDate8(q.elderly_certificate.valid_from)}から）`
      : null;
    const diseases = (q.specific_disease_certificates || []).length
      ? `${q.specific_disease_certificates.length}件`
      : null;
    return h('article', { class: `p-card p-qual${q.in_effect ? ' is-current' : ''}`, 'data-in-effect': q.in_effect ? '1' : '0' },
      h('header', { class: 'p-qual-head' },
        h('h4', null, q.insurer_name || `保険者番号 ${q.insurer_number}`),
        h('span', { class: `p-badge ${q.in_effect ? 'p-badge-ok' : 'p-badge-muted'}` }, q.in_effect ? '有効' : '資格なし')),
      dl([
        ['氏名', `${q.name}（${readable(q.name_kana)}）`],
        ['生年月日', fmtDate8(q.birthdate)],
        ['性別', SEX[q.sex] || q.sex],
        ['本人・家族', RELATIONSHIP[q.relationship] || q.relationship],
        ['保険者番号', q.insurer_number],
        ['記号・番号', numbers],
        ['一部負担金の割合', copayLabel(q.copay_ratio)],
        ['資格取得日', fmtDate8(q.qualification_date)],
        ['資格喪失日', q.disqualification_date ? fmtDate8(q.disqualification_date) : null],
        ['高齢受給者証', elderly],
        ['限度額適用認定証', limit],
        ['特定疾病療養受療証', diseases],
      ]));
  }

  async function loadQualifications() {
    const box = $('qualifications');
    try {
      const me = await api('GET', '/portal/api/me');
      const all = me.qualifications || [];
      const current = all.filter((q) => q.in_effect);
      const past = all.filter((q) => !q.in_effect);
      const holder = current[0] || all[0];
      $('session-name').textContent = holder ? `${holder.name} さん` : '';
      box.replaceChildren(
        h('h3', null, '現在の資格'),
        current.length ? h('div', { class: 'p-grid' }, current.map(qualificationCard))
          : h('p', { class: 'p-empty' }, '現在有効な資格はありません。'),
        h('h3', null, 'これまでの資格'),
        past.length ? h('div', { class: 'p-grid' }, past.map(qualificationCard))
          : h('p', { class: 'p-empty' }, 'これまでの資格の記録はありません。'),
      );
    } catch (e) {
      failed(box, e);
    }
  }

  // ---------------------------------------------------------------- 閲覧履歴

  function blockedCodes() {
    return new Set(blocks.filter((b) => b.blocked).map((b) => b.institution_code));
  }

  function fillFilter(select, options) {
    const chosen = select.value;
    select.replaceChildren(h('option', { value: '' }, 'すべて'),
      ...options.map(([value, label]) => h('option', { value }, label)));
    if (options.some(([v]) => v === chosen)) select.value = chosen;
  }

  async function loadAccess() {
    const rows = $('access-rows');
    if (!accessLog.length) rows.replaceChildren(h('tr', null, h('td', { colspan: 6, class: 'p-empty' }, '読み込み中…')));
    try {
      [accessLog, blocks] = await Promise.all([
        api('GET', '/portal/api/access-log?limit=5000'),
        api('GET', '/portal/api/blocks'),
      ]);
      const kinds = new Map();
      const institutions = new Map();
      for (const a of accessLog) {
        kinds.set(a.purpose, a.purpose_label);
        institutions.set(a.institution_code, a.institution_name || `医療機関コード ${a.institution_code}`);
      }
      fillFilter($('filter-kind'), [...kinds]);
      fillFilter($('filter-institution'), [...institutions]);
      renderAccess();
    } catch (e) {
      if (!(e instanceof SessionEnded)) {
        rows.replaceChildren(h('tr', null, h('td', { colspan: 6, class: 'p-error' }, e.message)));
      }
    }
  }

  function renderAccess() {
    const kind = $('filter-kind').value;
    const inst = $('filter-institution').value;
    const refusedOnly = $('filter-refused').checked;
    const shown = accessLog.filter((a) =>
      (!kind || a.purpose === kind)
      && (!inst || a.institution_code === inst)
      && (!refusedOnly || a.outcome === 'refused'));
    const blocked = blockedCodes();
    $('access-count').textContent = accessLog.length
      ? `${accessLog.length}件中 ${shown.length}件を表示`
      : '';
    if (!shown.length) {
      $('access-rows').replaceChildren(h('tr', null, h('td', { colspan: 6, class: 'p-empty' },
        accessLog.length ? '条件に合う記録はありません。' : 'まだ記録はありません。')));
      return;
    }
    $('access-rows').replaceChildren(...shown.map((a) => {
      const refused = a.outcome === 'refused';
      const what = a.category_label
        ? [a.purpose_label, h('span', { class: 'p-category' }, a.category_label)]
        : a.purpose_label;
      const action = blocked.has(a.institution_code)
        ? h('span', { class: 'p-badge p-badge-block' }, 'ブロック中')
        : h('button', {
          type: 'button',
          class: 'p-button p-small-button',
          'data-action': 'block',
          'data-institution': a.institution_code,
          onclick: () => block(a.institution_code, a.institution_name),
        }, 'この医療機関をブロック');
      return h('tr', {
        class: refused ? 'is-refused' : a.basis === 'emergency' ? 'is-emergency' : null,
        'data-access-id': a.id,
        'data-outcome': a.outcome,
        'data-institution': a.institution_code,
      },
      h('td', { 'data-label': '日時' }, h('time', { datetime: a.at }, fmtAt(a.at))),
      h('td', { 'data-label': '医療機関' }, institutionCell(a.institution_name, a.institution_code)),
      h('td', { 'data-label': '内容' }, what),
      h('td', { 'data-label': '根拠' }, a.basis_label),
      h('td', { 'data-label': '結果' }, h('span', {
        class: `p-badge ${refused ? 'p-badge-refused' : 'p-badge-ok'}`,
      }, refused ? `⚠ ${a.outcome_label}` : a.outcome_label)),
      h('td', { class: 'p-actions' }, action));
    }));
  }

  async function block(code, name) {
    const who = name ? `${name}（${code}）` : `医療機関コード ${code}`;
    const ok = await confirmDialog(
      'この医療機関をブロックしますか',
      `${who} には、あなたのお薬・診療・手術・健診の情報が表示されなくなります。保険の資格確認はこれまでどおりできます。ブロックは「情報提供の設定」からいつでも解除できます。`,
      'ブロックする',
    );
    if (!ok) return;
    try {
      blocks = await api('POST', '/portal/api/blocks', { institution_code: code, blocked: true });
      flash(`${who} をブロックしました。`);
      if (currentTab === 'access') renderAccess();
      else renderBlocks();
    } catch (e) {
      if (!(e instanceof SessionEnded)) flash(e.message, 'error');
    }
  }

  // ---------------------------------------------------------------- お薬・診療・手術・健診

  function newestFirst(list, key) {
    return [...list].sort((a, b) => (key(b) || '').localeCompare(key(a) || ''));
  }

  function table(caption, head, rows) {
    return h('div', { class: 'p-table-wrap' },
      h('table', { class: 'p-table p-stack' },
        h('caption', { class: 'sr-only' }, caption),
        h('thead', null, h('tr', null, head.map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, rows.map((cells) => h('tr', null,
          cells.map((c, i) => h('td', { 'data-label': head[i] }, c)))))));
  }

  function drugName(name, known) {
    return known === false ? h('span', { class: 'p-unknown' }, name) : name;
  }

  function renderMedical(category, r) {
    const period = h('p', { class: 'p-hint' },
      `期間: ${fmtDate8(r.start_date)} 〜 ${fmtDate8(r.end_date)}`);
    if (category === 'medications') {
      const list = newestFirst(r.medications || [], (m) => m.dispensed_on || m.prescribed_on || m.month);
      if (!list.length) return [period, h('p', { class: 'p-empty' }, 'お薬の記録はありません。')];
      return [period, table('お薬の記録（新しい順）',
        ['日付', '医療機関・薬局', 'お薬', '量', '日数・回数', '区分'],
        list.map((m) => [
          nw(m.dispensed_on || m.prescribed_on ? fmtDay(m.dispensed_on || m.prescribed_on) : fmtMonth6(m.month)),
          institutionCell(m.institution_name, m.institution_code),
          drugName(m.drug_name, m.known),
          nw(m.quantity ? `${m.quantity}${m.unit || ''}` : DASH),
          m.days_or_times ?? DASH,
          nw(CARE_KIND[m.care_kind] || m.care_kind),
        ]))];
    }
    if (category === 'checkups') {
      const list = newestFirst(r.checkups || [], (c) => c.date);
      if (!list.length) return [period, h('p', { class: 'p-empty' }, '特定健診の記録はありません。')];
      return [period, ...list.map((c) => h('section', { class: 'p-card p-checkup' },
        h('h4', null, `${fmtDate8(c.date)}　${c.institution_name || c.institution_id || ''}`),
        table(`${fmtDate8(c.date)}の健診結果`, ['項目', '結果', '単位', '判定'],
          (c.items || []).map((i) => [i.name, i.value ?? DASH, i.unit || '', i.interpretation || ''])),
      ))];
    }
    const list = newestFirst(r.treatments || [], (t) => (t.dates && t.dates.length ? t.dates[t.dates.length - 1] : t.month));
    const noun = category === 'surgeries' ? '手術' : '診療';
    if (!list.length) return [period, h('p', { class: 'p-empty' }, `${noun}の記録はありません。`)];
    return [period, table(`${noun}の記録（新しい順）`,
      ['日付', '医療機関', '区分', '内容', '回数'],
      list.map((t) => [
        t.dates && t.dates.length ? h('span', null, t.dates.map((d) => nw(fmtDay(d))).flatMap((e, i) => (i ? [' ', e] : [e]))) : nw(fmtMonth6(t.month)),
        institutionCell(t.institution_name, t.institution_code),
        nw(t.kind_label),
        drugName(t.name, t.known),
        t.count ?? DASH,
      ]))];
  }

  async function loadMedical(category) {
    medicalCategory = category;
    for (const b of document.querySelectorAll('#medical-kinds [data-category]')) {
      b.setAttribute('aria-pressed', b.dataset.category === category ? 'true' : 'false');
    }
    const box = $('medical');
    box.replaceChildren(h('p', { class: 'p-empty' }, '読み込み中…'));
    try {
      const r = await api('GET', `/portal/api/medical/${category}`);
      if (medicalCategory !== category) return;
      box.replaceChildren(h('h3', null, r.category_label || CATEGORY_NAMES[category]),
        ...renderMedical(category, r));
    } catch (e) {
      if (e.code === 'no_qualification') {
        box.replaceChildren(h('p', { class: 'p-empty' }, e.message));
      } else {
        failed(box, e);
      }
    }
  }

  // ---------------------------------------------------------------- 同意

  async function loadConsents() {
    try {
      renderConsents(await api('GET', '/portal/api/consents'));
    } catch (e) {
      if (!(e instanceof SessionEnded)) {
        $('consent-rows').replaceChildren(h('tr', null, h('td', { colspan: 6, class: 'p-error' }, e.message)));
      }
    }
  }

  const STATE_BADGE = { active: 'p-badge-ok', expired: 'p-badge-muted', withdrawn: 'p-badge-withdrawn' };

  function renderConsents(list) {
    const rows = newestFirst(list || [], (c) => c.given_at);
    if (!rows.length) {
      $('consent-rows').replaceChildren(h('tr', null, h('td', { colspan: 6, class: 'p-empty' }, '同意の記録はありません。')));
      return;
    }
    $('consent-rows').replaceChildren(...rows.map((c) => {
      const isWithdrawal = c.given_at === c.expires_at;
      return h('tr', { 'data-state': c.state, 'data-category': c.category, 'data-institution': c.institution_code },
        h('td', { 'data-label': '日時' }, fmtAt(c.given_at)),
        h('td', { 'data-label': '医療機関' }, institutionCell(c.institution_name, c.institution_code)),
        h('td', { 'data-label': '情報の種類' }, isWithdrawal ? `${c.category_label}（撤回の手続き）` : c.category_label),
        h('td', { 'data-label': '有効期限' }, isWithdrawal ? DASH : fmtAt(c.expires_at)),
        h('td', { 'data-label': '状態' }, h('span', { class: `p-badge ${STATE_BADGE[c.state] || ''}` }, c.state_label)),
        h('td', { class: 'p-actions' }, c.state === 'active'
          ? h('button', {
            type: 'button',
            class: 'p-button p-small-button',
            'data-action': 'withdraw',
            onclick: () => withdraw(c),
          }, '同意を撤回する')
          : null));
    }));
  }

  async function withdraw(c) {
    const who = c.institution_name || `医療機関コード ${c.institution_code}`;
    const ok = await confirmDialog(
      '同意を撤回しますか',
      `${who} への「${c.category_label}」の閲覧の同意を撤回します。この医療機関は、次に受付で同意するまで、この情報を見られなくなります。`,
      '撤回する',
    );
    if (!ok) return;
    try {
      renderConsents(await api('POST', '/portal/api/consents/withdraw', {
        institution_code: c.institution_code,
        category: c.category,
      }));
      flash(`${who} への「${c.category_label}」の同意を撤回しました。`);
    } catch (e) {
      if (!(e instanceof SessionEnded)) flash(e.message, 'error');
    }
  }

  // ---------------------------------------------------------------- 情報提供の設定

  async function loadSharing() {
    try {
      const [sharing, list] = await Promise.all([
        api('GET', '/portal/api/sharing'),
        api('GET', '/portal/api/blocks'),
      ]);
      $('opt-out').checked = !!sharing.opted_out;
      showOptOut(sharing.opted_out, false);
      blocks = list;
      renderBlocks();
    } catch (e) {
      failed($('blocks'), e);
    }
  }

  function showOptOut(optedOut, changed) {
    $('opt-out-status').textContent = optedOut
      ? `${changed ? '設定しました。' : ''}現在、すべての医療機関への情報提供を停止しています。`
      : `${changed ? '設定しました。' : ''}現在、あなたが同意した医療機関には情報が提供されます。`;
    $('opt-out-status').className = `p-status${optedOut ? ' is-stopped' : ''}`;
  }

  async function setOptOut() {
    const box = $('opt-out');
    const want = box.checked;
    box.disabled = true;
    try {
      const s = await api('POST', '/portal/api/sharing', { opted_out: want });
      box.checked = !!s.opted_out;
      showOptOut(s.opted_out, true);
    } catch (e) {
      box.checked = !want;
      if (!(e instanceof SessionEnded)) flash(e.message, 'error');
    } finally {
      box.disabled = false;
    }
  }

  function renderBlocks() {
    const box = $('blocks');
    const active = blocks.filter((b) => b.blocked);
    if (!active.length) {
      box.replaceChildren(h('p', { class: 'p-empty' },
        'ブロックしている医療機関はありません。「閲覧履歴」の「この医療機関をブロック」からもブロックできます。'));
      return;
    }
    box.replaceChildren(table('ブロックしている医療機関', ['医療機関', 'ブロックした日時', ''],
      active.map((b) => [
        institutionCell(b.institution_name, b.institution_code),
        fmtAt(b.since),
        h('button', {
          type: 'button',
          class: 'p-button p-small-button',
          'data-action': 'unblock',
          'data-institution': b.institution_code,
          onclick: () => unblock(b),
        }, 'ブロックを解除'),
      ])));
  }

  async function unblock(b) {
    const who = b.institution_name || `医療機関コード ${b.institution_code}`;
    try {
      blocks = await api('POST', '/portal/api/blocks', { institution_code: b.institution_code, blocked: false });
      renderBlocks();
      flash(`${who} のブロックを解除しました。`);
    } catch (e) {
      if (!(e instanceof SessionEnded)) flash(e.message, 'error');
    }
  }

  async function blockByCode(ev) {
    ev.preventDefault();
    const code = $('block-code').value.normalize('NFKC').replace(/\s/g, '');
    $('block-error').textContent = '';
    if (!/^\d{10}$/.test(code)) {
      $('block-error').textContent = '医療機関コードは10桁の数字で入力してください。';
      $('block-code').focus();
      return;
    }
    try {
      blocks = await api('POST', '/portal/api/blocks', { institution_code: code, blocked: true });
      $('block-code').value = '';
      renderBlocks();
      flash(`医療機関コード ${code} をブロックしました。`);
    } catch (e) {
      if (!(e instanceof SessionEnded)) $('block-error').textContent = e.message;
    }
  }

  // ---------------------------------------------------------------- start

  async function start() {
    $('login-form').addEventListener('submit', login);
    $('pin').addEventListener('input', (ev) => {
      const digits = ev.target.value.normalize('NFKC').replace(/\D/g, '').slice(0, 4);
      if (digits !== ev.target.value) ev.target.value = digits;
    });
    $('helper-retry').addEventListener('click', async () => {
      if (await probeHelper()) $('pin').focus();
    });
    $('logout').addEventListener('click', logout);
    for (const tab of document.querySelectorAll('#tabs [role="tab"]')) {
      tab.addEventListener('click', () => selectTab(tab.dataset.tab));
    }
    $('tabs').addEventListener('keydown', tabKeys);
    for (const id of ['filter-kind', 'filter-institution', 'filter-refused']) {
      $(id).addEventListener('change', renderAccess);
    }
    $('access-refresh').addEventListener('click', loadAccess);
    for (const b of document.querySelectorAll('#medical-kinds [data-category]')) {
      b.addEventListener('click', () => loadMedical(b.dataset.category));
    }
    $('opt-out').addEventListener('change', setOptOut);
    $('block-form').addEventListener('submit', blockByCode);

    try {
      const config = await api('GET', '/portal/api/config');
      if (config && config.card_helper) helperUrl = config.card_helper.replace(/\/+$/, '');
    } catch {
      /* keep the default */
    }
    // Already logged in (a reload within the session)?
    try {
      const r = await fetch('/portal/api/me', { credentials: 'same-origin', cache: 'no-store' });
      if (r.ok) {
        await enterApp(null);
        return;
      }
    } catch {
      /* show the login */
    }
    toLogin('');
  }

  start();
})();
