// Reception console of the clinic terminal.
//
// - a live table of today's receptions (GET /console/receptions + SSE /console/events);
// - the check by insurance numbers (POST /console/check);
// - the medical information view (POST /console/medical/{category});
// - 照会番号 registration, from a reception row or empty (POST /console/reference-numbers);
// - 一括照会: upload or paste lines, list the batches, open one's results
//   (POST/GET /console/batches, GET /console/batches/{受付番号});
// - 障害時受付: whether the central answers, the visits recorded meanwhile (要後日確認) and how
//   their later check turned out, staff's notes of the patient's 申告 (GET /console/offline,
//   polled; POST /console/offline/{id}/note);
// - 目視確認 for the kiosk (GET /console/kiosk + SSE /kiosk/events, POST /console/visual/*);
// - 災害時モード: while a declaration is in force for the clinic's area (GET /console/emergency,
//   polled), a banner and the search without a card (POST /console/emergency/check) with its
//   medical views on the emergency basis (POST /console/emergency/medical/{category});
// - the virtual card reader of demo setups (GET/POST /console/cards...).
//
// Personal data only ever travels in POST bodies and lives in memory, never in URLs or
// browser storage; a batch is fetched by its 受付番号, which names no one.
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

  const WEEKDAYS = ['日', '月', '火', '水', '木', '金', '土'];

  // Japanese eras, newest first: [name, first day yyyyMMdd, first year].
  const ERAS = [
    ['令和', '20190501', 2019],
    ['平成', '19890108', 1989],
    ['昭和', '19261225', 1926],
    ['大正', '19120730', 1912],
    ['明治', '18681023', 1868],
  ];

  // Today in Japan as yyyyMMdd, whatever the PC's time zone.
  function todayJst() {
    const parts = new Intl.DateTimeFormat('en-CA', {
      timeZone: 'Asia/Tokyo',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    }).formatToParts(new Date());
    const get = (t) => parts.find((p) => p.type === t)?.value ?? '';
    return `${get('year')}${get('month')}${get('day')}`;
  }

  function isDate8(s) {
    return typeof s === 'string' && /^\d{8}$/.test(s);
  }

  // "19800101" → "1980/01/01".
  function fmtDate8(s) {
    if (!isDate8(s)) return s || DASH;
    return `${s.slice(0, 4)}/${s.slice(4, 6)}/${s.slice(6, 8)}`;
  }

  // "202611" → "2026年11月" (a month, when the day is not known).
  function fmtMonth6(s) {
    if (typeof s !== 'string' || !/^\d{6}/.test(s)) return s || DASH;
    return `${s.slice(0, 4)}年${Number(s.slice(4, 6))}月`;
  }

  // "20261224235959" → "2026/12/24 23:59".
  function fmtDateTime14(s) {
    if (typeof s !== 'string' || !/^\d{12}/.test(s)) return s || DASH;
    return `${fmtDate8(s.slice(0, 8))} ${s.slice(8, 10)}:${s.slice(10, 12)}`;
  }

  // 受付日時 of a visit recorded offline: "09:15" today, else "12/03 09:15".
  function visitTime(d14) {
    if (typeof d14 !== 'string' || !/^\d{12}/.test(d14)) return d14 || DASH;
    const hm = `${d14.slice(8, 10)}:${d14.slice(10, 12)}`;
    return d14.slice(0, 8) === todayJst() ? hm : `${d14.slice(4, 6)}/${d14.slice(6, 8)} ${hm}`;
  }

  function eraLabel(d8) {
    if (!isDate8(d8)) return '';
    for (const [name, from, first] of ERAS) {
      if (d8 >= from) {
        const y = Number(d8.slice(0, 4)) - first + 1;
        return `${name}${y === 1 ? '元' : y}年`;
      }
    }
    return '';
  }

  function ageOn(birth8, on8) {
    if (!isDate8(birth8) || !isDate8(on8)) return null;
    let age = Number(on8.slice(0, 4)) - Number(birth8.slice(0, 4));
    if (on8.slice(4) < birth8.slice(4)) age -= 1;
    return age >= 0 ? age : null;
  }

  // "2026-11-24T09:01:02+09:00" → "09:01:02" (the server's wall clock, already JST).
  function timeOf(at) {
    const m = typeof at === 'string' ? /T(\d{2}:\d{2}(?::\d{2})?)/.exec(at) : null;
    return m ? m[1] : at || DASH;
  }

  // "030" → "3割", "015" → "1.5割".
  function copayLabel(ratio) {
    if (typeof ratio !== 'string' || !/^\d+$/.test(ratio)) return ratio || DASH;
    const n = Number(ratio) / 10;
    return `${Number.isInteger(n) ? n : n.toFixed(1)}割`;
  }

  // Half-width katakana (as the central sends names) → full-width, for reading.
  function readable(s) {
    return typeof s === 'string' ? s.normalize('NFKC') : '';
  }

  function validityClass(v) {
    if (v === '1') return 'c-v-ok';
    if (v === '2' || v === '3') return 'c-v-bad';
    if (v === '4' || v === '5') return 'c-v-warn';
    return 'c-v-info';
  }

  const CONSENT_LABELS = {
    medications: '薬剤',
    treatments: '診療',
    surgeries: '手術',
    checkups: '健診',
    limit: '限度額',
  };
  const CONSENT_ORDER = ['medications', 'treatments', 'surgeries', 'checkups', 'limit'];
  const MEDICAL_CATEGORIES = ['medications', 'treatments', 'surgeries', 'checkups'];

  const METHOD_LABELS = { pin: '暗証番号', visual: '目視', face: '顔認証', numbers: '番号入力' };
  const SOURCE_LABELS = { kiosk: '受付機', console: '受付', files: 'レセコン' };

  // 障害時受付: how a visit recorded offline stands (colours as the validity badges).
  const OFFLINE_STATUS_CLASS = {
    pending: 'c-v-pending',
    confirmed: 'c-v-ok',
    discrepancy: 'c-v-warn',
    failed: 'c-v-bad',
  };
  // What staff do about a visit that did not check out: a visit not covered that day, or one
  // whose co-pay is not the declared one, or one the central refused to check.
  const OFFLINE_TODO = {
    uncovered: '患者さんに保険証・資格確認書などを確認してください。',
    copay: '患者さんに説明し、差額を精算してください。',
    failed: '保険証・資格確認書など別の方法で資格を確認してください。',
  };

  function offlineTodo(status, answer) {
    if (status === 'failed') return OFFLINE_TODO.failed;
    if (status !== 'discrepancy') return '';
    return answer && answer.validity === '1' ? OFFLINE_TODO.copay : OFFLINE_TODO.uncovered;
  }

  const CARE_KIND_LABELS = { pharmacy: '調剤', outpatient: '外来', inpatient: '入院', dental: '歯科' };

  // ---------------------------------------------------------------- requests

  const NETWORK_ERROR = {
    code: 'network',
    message: '端末のサーバに接続できません。',
    detail: '',
  };

  // Sends a request and returns {ok, status, data, error}. Never throws. `quiet`: a background
  // poll, which does not raise the central banner.
  async function request(method, url, body, { central = false, quiet = false } = {}) {
    const init = { method, cache: 'no-store', headers: {} };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(url, init);
    } catch {
      return { ok: false, status: 0, data: null, error: NETWORK_ERROR };
    }
    let text = '';
    try {
      text = await res.text();
    } catch {
      // body lost: treat as empty
    }
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (res.ok) {
      if (central) hideBanner('central');
      return { ok: true, status: res.status, data, error: null };
    }
    const error =
      data && typeof data === 'object' && typeof data.message === 'string'
        ? data
        : { code: `http_${res.status}`, message: `エラーが発生しました（${res.status}）。`, detail: text.slice(0, 200) };
    if (res.status === 503 && error.code === 'central_unavailable' && !quiet) showCentralBanner();
    return { ok: false, status: res.status, data, error };
  }

  // An EventSource that also recovers from a closed connection (e.g. the server restarted
  // behind a proxy answering 502), and reports its status.
  function stream(url, onData, onStatus) {
    let es = null;
    let wasDown = false;
    let retryMs = 5000;
    const open = () => {
      es = new EventSource(url);
      es.onopen = () => {
        retryMs = 5000;
        onStatus?.(true, wasDown);
        wasDown = false;
      };
      es.onmessage = (ev) => {
        let data;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return;
        }
        onData(data);
      };
      es.onerror = () => {
        wasDown = true;
        onStatus?.(false, false);
        if (es.readyState === EventSource.CLOSED) {
          // The browser gave up (e.g. an error status): retry with a growing delay.
          es.close();
          setTimeout(open, retryMs);
          retryMs = Math.min(retryMs * 2, 60000);
        }
      };
    };
    if ('EventSource' in window) open();
    return () => es?.close();
  }

  // ---------------------------------------------------------------- banners

  const banners = $('banners');
  // Whether the terminal reaches the central: 'unknown', 'online' or 'offline' (障害時受付).
  let centralState = 'unknown';

  // A banner (one per id, updated in place): `message` is text or nodes; `tone` is '' (trouble),
  // 'warn' or 'ok'; `actions` are buttons shown before 閉じる, which `closable: false` omits.
  function showBanner(id, message, { tone = '', actions = [], closable = true } = {}) {
    let el = banners.querySelector(`[data-banner="${id}"]`);
    if (!el) {
      el = h('div', { class: 'c-banner', role: 'alert', 'data-banner': id }, h('div', { class: 'c-banner-text' }));
      banners.append(el);
    }
    el.className = `c-banner${tone ? ` c-banner-${tone}` : ''}`;
    el.querySelector('.c-banner-text').replaceChildren(...[message].flat());
    for (const b of el.querySelectorAll(':scope > button')) b.remove();
    el.append(...actions);
    if (closable) el.append(h('button', { type: 'button', class: 'c-btn c-small', onclick: () => hideBanner(id) }, '閉じる'));
  }

  function hideBanner(id) {
    banners.querySelector(`[data-banner="${id}"]`)?.remove();
  }

  function showCentralBanner() {
    // During an outage the 障害時受付 banner already says so, and what to do.
    if (centralState === 'offline') return;
    showBanner(
      'central',
      '中央サーバに接続できません。しばらく待って再試行するか、保険証・資格確認書で確認してください。',
    );
  }

  // ---------------------------------------------------------------- clock

  function tickClock() {
    const now = new Date();
    const fmt = new Intl.DateTimeFormat('ja-JP', {
      timeZone: 'Asia/Tokyo',
      month: 'numeric',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hour12: false,
    });
    const parts = Object.fromEntries(fmt.formatToParts(now).map((p) => [p.type, p.value]));
    const t = todayJst();
    const wd = WEEKDAYS[new Date(Date.UTC(+t.slice(0, 4), +t.slice(4, 6) - 1, +t.slice(6, 8))).getUTCDay()];
    const clock = $('clock');
    clock.textContent = `${parts.month}月${parts.day}日（${wd}） ${parts.hour}:${parts.minute}`;
    clock.dateTime = now.toISOString();
  }

  // ---------------------------------------------------------------- receptions table

  const tbody = $('reception-rows');
  const receptions = new Map(); // id → Reception
  const rowsById = new Map(); // id → <tr>
  let loaded = false;

  function consentsOf(r) {
    const list = r && r.answer && Array.isArray(r.answer.consents) ? r.answer.consents : [];
    return list.filter((c) => c && c.flag === '1');
  }

  function hasMedicalConsent(r) {
    return consentsOf(r).some((c) => MEDICAL_CATEGORIES.includes(c.category));
  }

  function firstResult(r) {
    const results = r && r.answer && Array.isArray(r.answer.results) ? r.answer.results : [];
    return results[0] || null;
  }

  // The contract names it `limit`; the central's schema `limit_certificate`. Accept both.
  function limitOf(q) {
    return (q && (q.limit_certificate || q.limit)) || null;
  }

  // Newer first: `at` (same offset everywhere, so text order is time order), then id.
  function isNewer(a, b) {
    if (a.at !== b.at) return String(a.at) > String(b.at);
    return Number(a.id) > Number(b.id);
  }

  function buildRow(r) {
    const ans = r.answer || {};
    const results = Array.isArray(ans.results) ? ans.results : [];
    const q = results[0] || null;
    const today = todayJst();

    // A visit recorded during an outage and checked afterwards (障害時受付).
    const off = r.offline && typeof r.offline === 'object' ? r.offline : null;
    const attention = off && (off.status === 'discrepancy' || off.status === 'failed');
    const tr = h('tr', {
      'data-reception-id': r.id,
      class: r.kiosk_waiting_for_staff ? 'is-waiting' : attention ? 'is-attention' : null,
    });

    // 時刻 (of the check; a visit recorded offline also shows when the patient came)
    tr.append(
      h(
        'td',
        { class: 'c-nowrap c-num' },
        timeOf(r.at),
        off ? h('span', { class: 'c-sub' }, `受付 ${visitTime(off.visited_at)}`) : null,
      ),
    );

    // 確認 (method / where; a visit of an outage says so, and how its later check went)
    tr.append(
      h(
        'td',
        { class: 'c-nowrap' },
        METHOD_LABELS[r.method] || r.method || DASH,
        h('span', { class: 'c-sub' }, SOURCE_LABELS[r.source] || r.source || ''),
        off
          ? h(
              'span',
              {
                class: `c-badge c-offline-badge ${OFFLINE_STATUS_CLASS[off.status] || 'c-v-info'}`,
                'data-offline-status': off.status,
                title: [`受付日時: ${fmtDateTime14(off.visited_at)}`, off.problem].filter(Boolean).join('\n'),
              },
              `障害時受付・${off.status_label || off.status}`,
            )
          : null,
      ),
    );

    // 氏名（カナ）
    if (q) {
      const more = results.length > 1 ? `ほか${results.length - 1}名（複数該当）` : '';
      tr.append(
        h(
          'td',
          { class: 'c-person' },
          h('span', { class: 'c-name' }, q.name || DASH),
          h('span', { class: 'c-sub' }, readable(q.name_kana)),
          more ? h('span', { class: 'c-sub' }, more) : null,
        ),
      );
    } else {
      tr.append(h('td', null, DASH));
    }

    // 照会番号
    tr.append(
      h(
        'td',
        { class: 'c-nowrap c-num' },
        q && q.reference_number ? h('span', { class: 'c-ref', 'data-reference-number': '' }, q.reference_number) : DASH,
      ),
    );

    // 生年月日
    if (q) {
      const age = ageOn(q.birthdate, today);
      tr.append(
        h(
          'td',
          { class: 'c-nowrap c-num' },
          fmtDate8(q.birthdate),
          h('span', { class: 'c-sub' }, [eraLabel(q.birthdate), age !== null ? `${age}歳` : ''].filter(Boolean).join(' ')),
        ),
      );
    } else {
      tr.append(h('td', null, DASH));
    }

    // 資格有効性
    tr.append(
      h(
        'td',
        { class: 'c-nowrap' },
        h('span', { class: `c-badge ${validityClass(ans.validity)}` }, ans.validity_label || ans.validity || DASH),
      ),
    );

    // 保険者名
    if (q) {
      tr.append(
        h(
          'td',
          null,
          q.insurer_name || DASH,
          h(
            'span',
            { class: 'c-sub c-num' },
            [q.insurer_number, q.relationship === '1' ? '本人' : q.relationship === '2' ? '家族' : '']
              .filter(Boolean)
              .join(' '),
          ),
        ),
      );
    } else {
      tr.append(h('td', null, DASH));
    }

    // 負担割合
    if (q) {
      tr.append(
        h(
          'td',
          { class: 'c-nowrap' },
          copayLabel(q.copay_ratio),
          q.preschool === '1' ? h('span', { class: 'c-sub' }, '未就学') : null,
        ),
      );
    } else {
      tr.append(h('td', null, DASH));
    }

    // 限度額
    const lim = limitOf(q);
    if (lim) {
      const code = [lim.classification, lim.bracket].filter(Boolean).join('/');
      tr.append(
        h(
          'td',
          { class: 'c-nowrap' },
          lim.bracket_label || code || DASH,
          lim.bracket_label && code ? h('span', { class: 'c-sub c-num' }, code) : null,
        ),
      );
    } else {
      tr.append(h('td', null, DASH));
    }

    // 注意: certificate notice, staff needed, central errors
    const notes = [];
    if (off) {
      if (off.problem) notes.push(h('span', { class: `c-problem is-${off.status}` }, off.problem));
      const todo = offlineTodo(off.status, ans);
      if (todo) notes.push(h('span', { class: 'c-todo' }, todo));
    }
    if (r.kiosk_waiting_for_staff) notes.push(h('span', { class: 'c-badge c-v-warn' }, '目視確認待ち'));
    if (ans.certificate_notice && ans.certificate_notice.message) {
      const n = ans.certificate_notice;
      notes.push(
        h(
          'span',
          {
            class: 'c-badge c-v-warn c-wrap',
            title: n.not_after ? `電子証明書の有効期限: ${fmtDate8(n.not_after)}` : null,
          },
          `⚠ ${n.message}`,
        ),
      );
    }
    if (ans.processing_result && ans.processing_result.status === '2' && ans.processing_result.message) {
      notes.push(h('span', { class: 'c-badge c-v-bad c-wrap' }, ans.processing_result.message));
    }
    tr.append(h('td', { class: 'c-notes' }, notes.length ? h('div', { class: 'c-chips' }, notes) : ''));

    // 同意
    const consents = consentsOf(r);
    const byCat = new Map(consents.map((c) => [c.category, c]));
    const chips = CONSENT_ORDER.filter((c) => byCat.has(c)).map((c) => {
      const until = byCat.get(c).available_until;
      return h(
        'span',
        { class: 'c-chip', title: until ? `有効期限: ${fmtDateTime14(until)}` : null },
        CONSENT_LABELS[c],
      );
    });
    tr.append(h('td', null, chips.length ? h('div', { class: 'c-chips' }, chips) : ''));

    // 情報を見る, 照会番号登録
    tr.append(
      h(
        'td',
        { class: 'c-nowrap' },
        h(
          'div',
          { class: 'c-row-actions' },
          q && hasMedicalConsent(r)
            ? h(
                'button',
                { type: 'button', class: 'c-btn c-small', 'data-action': 'medical-open', 'data-reception-id': r.id },
                '情報を見る',
              )
            : null,
          q
            ? h(
                'button',
                { type: 'button', class: 'c-btn c-small', 'data-action': 'reference-open', 'data-reception-id': r.id },
                '照会番号登録',
              )
            : null,
        ),
      ),
    );
    return tr;
  }

  function flash(tr) {
    tr.classList.remove('is-new');
    // Restart the animation on an updated row.
    void tr.offsetWidth;
    tr.classList.add('is-new');
    tr.addEventListener('animationend', () => tr.classList.remove('is-new'), { once: true });
  }

  function upsert(r, highlight) {
    if (!r || typeof r !== 'object' || r.id === undefined || r.id === null) return;
    const old = rowsById.get(r.id);
    receptions.set(r.id, r);
    const tr = buildRow(r);
    if (old) {
      old.replaceWith(tr);
    } else {
      tbody.querySelector('.c-empty')?.remove();
      let before = null;
      for (const row of tbody.rows) {
        const other = receptions.get(Number(row.dataset.receptionId)) || receptions.get(row.dataset.receptionId);
        if (other && isNewer(r, other)) {
          before = row;
          break;
        }
      }
      tbody.insertBefore(tr, before);
    }
    rowsById.set(r.id, tr);
    if (highlight) flash(tr);
    updateCount();
    updateVisualWho();
    if (r.kiosk_waiting_for_staff) refreshKiosk();
  }

  function updateCount() {
    $('count').textContent = `${receptions.size}件`;
    if (receptions.size === 0 && loaded && !tbody.querySelector('.c-empty')) {
      tbody.replaceChildren(h('tr', { class: 'c-empty' }, h('td', { colspan: 12 }, '本日の受付はまだありません。')));
    }
  }

  async function loadReceptions() {
    const res = await request('GET', '/console/receptions');
    if (!res.ok || !Array.isArray(res.data)) {
      if (!loaded) {
        tbody.replaceChildren(
          h('tr', { class: 'c-empty' }, h('td', { colspan: 12 }, `受付一覧を読み込めません。${res.error ? res.error.message : ''}`)),
        );
      }
      return;
    }
    const first = !loaded;
    loaded = true;
    tbody.querySelector('.c-empty')?.remove();
    // Oldest first so that each insertion lands on top. On the first load nothing flashes;
    // after a reconnection only what changed meanwhile does.
    const list = [...res.data].reverse();
    for (const r of list) {
      const known = receptions.get(r.id);
      if (!known) upsert(r, !first);
      else if (JSON.stringify(known) !== JSON.stringify(r)) upsert(r, !first);
    }
    updateCount();
  }

  tbody.addEventListener('click', (e) => {
    const btn = e.target instanceof Element ? e.target.closest('button[data-action]') : null;
    if (!btn) return;
    const id = btn.dataset.receptionId;
    const r = receptions.get(Number(id)) ?? receptions.get(id);
    if (!r) return;
    if (btn.dataset.action === 'medical-open') openMedical(r);
    else if (btn.dataset.action === 'reference-open') openReference(firstResult(r));
  });

  function setConn(up) {
    const el = $('conn');
    el.textContent = up ? '端末: 接続中' : '端末: 再接続中…';
    el.classList.toggle('is-down', !up);
  }

  // ---------------------------------------------------------------- 目視確認 (kiosk)

  const KIOSK_LABELS = {
    waiting_for_card: 'カード待ち',
    working: '処理中',
    choose_method: '本人確認方法の選択中',
    face_capture: '顔認証中',
    face_retry: '顔認証の再試行待ち',
    pin: '暗証番号の入力中',
    waiting_for_staff: '目視確認待ち',
    consent_medical: '同意の選択中',
    consent_checkups: '同意の選択中',
    done: '確認完了',
    consent_limit: '限度額情報の選択中',
    finished: '完了',
    locked: '⚠ 暗証番号ロック',
    card_error: '⚠ カードを読み取れません',
    certificate_invalid: '⚠ 電子証明書が無効',
    registration_prompt: '⚠ 保険証利用登録なし',
    central_unavailable: '⚠ 資格確認ができません',
    recorded_offline: '障害時受付（要後日確認）',
    cancelled: '中止',
  };

  const visualPanel = $('visual-panel');
  const visualButtons = visualPanel.querySelectorAll('button[data-action]');
  let kiosk = null;
  let visualTimer = 0;
  const baseTitle = document.title;

  function applyKiosk(s) {
    if (!s || typeof s !== 'object' || typeof s.screen !== 'string') return;
    const changed = !kiosk || kiosk.seq !== s.seq || kiosk.screen !== s.screen;
    kiosk = s;
    $('kiosk-status').textContent = `受付機: ${KIOSK_LABELS[s.screen] || s.screen}`;
    const waiting = s.screen === 'waiting_for_staff';
    const wasHidden = visualPanel.hidden;
    visualPanel.hidden = !waiting;
    document.title = waiting ? `【目視確認】${baseTitle}` : baseTitle;
    if (changed) {
      clearTimeout(visualTimer);
      for (const b of visualButtons) b.disabled = false;
    }
    updateVisualWho();
    // No focus change here: staff may be typing in the form, and a stray Enter must never
    // confirm an identity. The panel and the window title draw attention instead.
    if (waiting && wasHidden) visualPanel.scrollIntoView({ block: 'nearest' });
    if (changed && (s.screen === 'waiting_for_card' || s.screen === 'cancelled' || s.screen === 'working')) {
      refreshCards();
    }
  }

  function updateVisualWho() {
    const who = $('visual-who');
    let pending = null;
    for (const r of receptions.values()) {
      if (r.kiosk_waiting_for_staff && (!pending || isNewer(r, pending))) pending = r;
    }
    const q = pending ? firstResult(pending) : null;
    who.textContent = q ? `${q.name}（${readable(q.name_kana)}） ${fmtDate8(q.birthdate)}生` : '';
  }

  async function refreshKiosk() {
    const res = await request('GET', '/console/kiosk');
    if (res.ok) applyKiosk(res.data);
  }

  async function visualAnswer(action) {
    if (!kiosk || kiosk.screen !== 'waiting_for_staff') return;
    for (const b of visualButtons) b.disabled = true;
    const url = action === 'visual-confirm' ? '/console/visual/confirm' : '/console/visual/reject';
    const res = await request('POST', url, { seq: kiosk.seq });
    if (!res.ok) {
      showBanner('visual', `目視確認を送れませんでした。${res.error.message}`);
      for (const b of visualButtons) b.disabled = false;
      return;
    }
    hideBanner('visual');
    // The kiosk's next screen re-enables the buttons; re-read it if no event comes.
    clearTimeout(visualTimer);
    visualTimer = setTimeout(async () => {
      await refreshKiosk();
      for (const b of visualButtons) b.disabled = false;
    }, 3000);
  }

  for (const b of visualButtons) b.addEventListener('click', () => visualAnswer(b.dataset.action));

  // ---------------------------------------------------------------- number forms

  // Line breaks, tabs and other control characters: refused in free text.
  const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

  // The insurance numbers and birth date are typed in two forms: the check by numbers and the
  // 照会番号 registration. Both validate as staff type, with the same rules and messages.
  const NUMBER_FIELDS = ['insurer_number', 'symbol', 'number', 'branch', 'birthdate'];

  // Full-width ASCII (０-９, Ａ-Ｚ, －…) and the ideographic space → half-width.
  function toHalfWidth(s) {
    return s.replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0)).replace(/\u3000/g, ' ');
  }

  // Accepts 19800101, 1980/1/1, 1980-01-01, 1980年1月1日.
  function normalizeBirthdate(raw) {
    const s = toHalfWidth(raw).trim();
    const parts = s.split(/[\/\-.\s年月日]+/).filter(Boolean);
    if (parts.length === 3 && /^\d{4}$/.test(parts[0]) && /^\d{1,2}$/.test(parts[1]) && /^\d{1,2}$/.test(parts[2])) {
      return `${parts[0]}${parts[1].padStart(2, '0')}${parts[2].padStart(2, '0')}`;
    }
    return s.replace(/\s+/g, '');
  }

  function isRealDate(d8) {
    const y = Number(d8.slice(0, 4));
    const m = Number(d8.slice(4, 6));
    const d = Number(d8.slice(6, 8));
    const dt = new Date(Date.UTC(y, m - 1, d));
    return dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d;
  }

  // 保険者番号 (8 digits) 検証番号: weights 2,1,2,… from the right of the first seven digits,
  // summing the digits of the products. Only a warning: the central has the last word.
  function insurerCheckDigitOk(n) {
    const body = n.slice(0, -1);
    let sum = 0;
    for (let i = 0; i < body.length; i++) {
      const w = i % 2 === 0 ? 2 : 1;
      const p = Number(body[body.length - 1 - i]) * w;
      sum += Math.floor(p / 10) + (p % 10);
    }
    return (10 - (sum % 10)) % 10 === Number(n[n.length - 1]);
  }

  function readNumbers(form) {
    const raw = (name) => form.elements[name].value;
    return {
      insurer_number: toHalfWidth(raw('insurer_number')).replace(/[\s\-]/g, ''),
      symbol: toHalfWidth(raw('symbol')).trim(),
      number: toHalfWidth(raw('number')).trim(),
      branch: toHalfWidth(raw('branch')).replace(/\s/g, ''),
      birthdate: normalizeBirthdate(raw('birthdate')),
    };
  }

  function validateNumbers(v) {
    const errors = {};
    if (!/^(\d{6}|\d{8})$/.test(v.insurer_number)) errors.insurer_number = '保険者番号は6桁または8桁の数字です。';
    if (!v.number) errors.number = '番号を入力してください。';
    if (v.branch && !/^\d{2}$/.test(v.branch)) errors.branch = '枝番は2桁の数字です。';
    const birth = birthdateError(v.birthdate);
    if (birth) errors.birthdate = birth;
    return errors;
  }

  // What is wrong with a birth date (yyyyMMdd), or ''.
  function birthdateError(d8) {
    if (!/^\d{8}$/.test(d8)) return '生年月日は8桁の数字です（例: 19800101）。';
    if (!isRealDate(d8) || d8 < '18680101') return '存在しない日付です。';
    if (d8 > todayJst()) return '未来の日付です。';
    return '';
  }

  // A valid birth date read back: "1980年1月1日（昭和55年） 46歳".
  function birthdateReading(d8) {
    const age = ageOn(d8, todayJst());
    return `${d8.slice(0, 4)}年${+d8.slice(4, 6)}月${+d8.slice(6, 8)}日（${eraLabel(d8)}）${age !== null ? ` ${age}歳` : ''}`;
  }

  // The request body of the numbers: 記号 and 枝番 only when given.
  function numbersBody(v) {
    const body = { insurer_number: v.insurer_number, number: v.number, birthdate: v.birthdate };
    if (v.symbol) body.symbol = v.symbol;
    if (v.branch) body.branch = v.branch;
    return body;
  }

  // Validation as staff type for a form holding the number fields and `extra` ones. Element
  // ids: `${prefix}e-NAME` for a field's error, `${prefix}h-birthdate` for the date read back.
  // `read(form)` adds the extra values, `check(v)` their errors; a field is judged once it is
  // long enough to be complete (or `eager`), or left.
  function numbersForm(form, submitBtn, { prefix = '', extra = [], eager = [], read, check } = {}) {
    const fields = [...NUMBER_FIELDS, ...extra];
    const touched = new Set();
    let serverErrors = {}; // field → message from the last ApiError
    let submitting = false;

    const values = () => ({ ...readNumbers(form), ...(read ? read(form) : {}) });
    const errorsOf = (v) => ({ ...validateNumbers(v), ...(check ? check(v) : {}) });

    function refresh() {
      const v = values();
      const errors = errorsOf(v);
      for (const f of fields) {
        const msg = serverErrors[f] || (touched.has(f) ? errors[f] : '') || '';
        $(`${prefix}e-${f}`).textContent = msg;
        form.elements[f].setAttribute('aria-invalid', msg ? 'true' : 'false');
      }
      // Hints: the birth date read back, a doubtful 検証番号.
      const hint = $(`${prefix}h-birthdate`);
      hint.textContent = errors.birthdate ? '' : birthdateReading(v.birthdate);
      if (
        touched.has('insurer_number') &&
        v.insurer_number.length === 8 &&
        !errors.insurer_number &&
        !serverErrors.insurer_number &&
        !insurerCheckDigitOk(v.insurer_number)
      ) {
        $(`${prefix}e-insurer_number`).textContent = '検証番号が一致しません。番号をご確認ください。';
      }
      submitBtn.disabled = submitting || Object.keys(errors).length > 0;
      return { v, errors };
    }

    form.addEventListener('input', (e) => {
      const name = e.target && e.target.name;
      if (name && serverErrors[name]) delete serverErrors[name];
      if (name && fields.includes(name) && e.target.value !== '') {
        // Judge a field as soon as it is long enough to be complete.
        const v = values();
        if (name === 'insurer_number' && v.insurer_number.length >= 8) touched.add(name);
        if (name === 'birthdate' && v.birthdate.length >= 8) touched.add(name);
        if (name === 'branch' && v.branch.length >= 2) touched.add(name);
        if (eager.includes(name)) touched.add(name);
      }
      refresh();
    });

    // On leaving a field: judge it and show the converted (half-width) value.
    form.addEventListener(
      'blur',
      (e) => {
        const el = e.target;
        if (!el || !fields.includes(el.name)) return;
        if (el.value !== '') touched.add(el.name);
        const v = values();
        if (el.name === 'birthdate') {
          if (/^\d{8}$/.test(v.birthdate)) el.value = v.birthdate;
        } else if (typeof v[el.name] === 'string' && el.value !== v[el.name]) {
          el.value = v[el.name];
        }
        refresh();
      },
      true,
    );

    return {
      fields,
      refresh,
      // Every field judged (on submit); the values and their errors.
      judgeAll() {
        for (const f of fields) touched.add(f);
        return refresh();
      },
      clear() {
        form.reset();
        touched.clear();
        serverErrors = {};
        refresh();
      },
      // Fills the fields (e.g. from a check result), all judged.
      fill(v) {
        for (const [k, val] of Object.entries(v)) {
          if (form.elements[k]) form.elements[k].value = val ?? '';
        }
        serverErrors = {};
        touched.clear();
        for (const f of fields) if (form.elements[f].value !== '') touched.add(f);
        refresh();
      },
      setSubmitting(on) {
        submitting = on;
        refresh();
      },
      // Shows an API error next to its field; false when it names no field of this form.
      showServerError(err) {
        if (!err || !err.field || !fields.includes(err.field)) return false;
        serverErrors = { [err.field]: err.message };
        refresh();
        form.elements[err.field].focus();
        return true;
      },
    };
  }

  // ---------------------------------------------------------------- number check form

  const form = $('check-form');
  const checkForm = numbersForm(form, $('check-submit'), {
    read: (f) => ({ limit: f.elements.limit.checked }),
  });

  $('check-clear').addEventListener('click', () => {
    checkForm.clear();
    $('check-status').textContent = '';
    form.elements.insurer_number.focus();
  });

  let checking = false;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const { v, errors } = checkForm.judgeAll();
    if (checking || Object.keys(errors).length) return;
    const body = numbersBody(v);
    if (v.limit) body.limit_application_certificate_related_cons_flg = '1';

    const status = $('check-status');
    checking = true;
    checkForm.setSubmitting(true);
    status.textContent = '確認中…';
    status.className = 'c-form-status';
    const res = await request('POST', '/console/check', body, { central: true });
    checking = false;
    checkForm.setSubmitting(false);
    if (res.status === 202 && res.data && res.data.offline && res.data.visit) {
      // The central could not be reached: the visit is recorded for a later check, and staff
      // note what the patient declares.
      const head = h('strong', null, '通信障害のため、要後日確認として受付しました');
      const sub = (text) => h('span', { class: 'c-sub' }, text);
      status.replaceChildren(head, sub('接続が戻ると自動で資格を確認します。'));
      status.className = 'c-form-status c-warn';
      checkForm.clear();
      setCentral('offline');
      loadOffline();
      openNote(res.data.visit, {
        recorded: head.textContent,
        birthdate: v.birthdate,
        onDone: (message) => status.replaceChildren(head, sub(message), sub('接続が戻ると自動で資格を確認します。')),
        returnFocus: () => form.elements.insurer_number.focus(),
      });
      return;
    }
    if (res.ok && res.data) {
      upsert(res.data, true);
      const ans = res.data.answer || {};
      const q = firstResult(res.data);
      status.textContent = `確認しました: ${q ? `${q.name} ` : ''}${ans.validity_label || ''}`;
      status.className = 'c-form-status';
      checkForm.clear();
      form.elements.insurer_number.focus();
      return;
    }
    const err = res.error || NETWORK_ERROR;
    if (checkForm.showServerError(err)) {
      status.textContent = '';
    } else {
      status.textContent = err.message;
      status.className = 'c-form-status c-err';
    }
  });

  // ---------------------------------------------------------------- 照会番号 registration

  // The institution's own id for a patient (診察券番号 etc.): 1–50 characters, no control
  // characters; returned in this institution's later results for the person.
  const REFERENCE_MAX = 50;
  const refDialog = $('reference');
  const refForm = $('reference-form');
  const refStatus = $('reference-status');
  const refNumbers = numbersForm(refForm, $('reference-submit'), {
    prefix: 'r',
    extra: ['reference_number'],
    eager: ['reference_number'],
    read: (f) => ({ reference_number: f.elements.reference_number.value.trim() }),
    check: (v) => {
      const n = [...v.reference_number].length;
      if (!n) return { reference_number: '照会番号を入力してください。' };
      if (n > REFERENCE_MAX) return { reference_number: `照会番号は${REFERENCE_MAX}文字以内です（いま${n}文字）。` };
      if (CONTROL_CHARS.test(v.reference_number)) {
        return { reference_number: '照会番号に改行・タブなどの制御文字は使えません。' };
      }
      return {};
    },
  });
  let registering = false;

  // Opens the form, prefilled from a reception's result when given.
  function openReference(q) {
    refNumbers.clear();
    refStatus.textContent = '';
    refStatus.className = 'c-form-status';
    if (q) {
      refNumbers.fill({
        insurer_number: q.insurer_number || '',
        symbol: q.symbol || '',
        number: q.number || '',
        branch: q.branch || '',
        birthdate: q.birthdate || '',
        reference_number: q.reference_number || '',
      });
      $('reference-who').textContent = `${q.name}（${readable(q.name_kana)}） ${fmtDate8(q.birthdate)}生`;
      $('reference-current').textContent = q.reference_number ? `登録済みの照会番号: ${q.reference_number}` : '';
    } else {
      $('reference-who').textContent = '';
      $('reference-current').textContent = '';
    }
    if (typeof refDialog.showModal === 'function') refDialog.showModal();
    else refDialog.setAttribute('open', '');
    (q ? refForm.elements.reference_number : refForm.elements.insurer_number).focus();
    if (q) refForm.elements.reference_number.select();
  }

  refDialog.addEventListener('close', () => {
    // Forget the person as soon as the form closes.
    refNumbers.clear();
    $('reference-who').textContent = '';
    $('reference-current').textContent = '';
    refStatus.textContent = '';
  });
  $('reference-close').addEventListener('click', () => refDialog.close());
  $('reference-new').addEventListener('click', () => openReference(null));

  refForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const { v, errors } = refNumbers.judgeAll();
    if (registering || Object.keys(errors).length) return;
    const body = { ...numbersBody(v), reference_number: v.reference_number };
    registering = true;
    refNumbers.setSubmitting(true);
    refStatus.textContent = '登録中…';
    refStatus.className = 'c-form-status';
    const res = await request('POST', '/console/reference-numbers', body, { central: true });
    registering = false;
    refNumbers.setSubmitting(false);
    if (res.ok && res.data) {
      const d = res.data;
      refStatus.replaceChildren(
        h('strong', null, `照会番号を登録しました: ${d.reference_number}`),
        d.replaced ? h('span', { class: 'c-sub' }, `以前の照会番号 ${d.replaced} を置き換えました。`) : null,
      );
      refStatus.className = 'c-form-status c-ok';
      $('reference-current').textContent = `登録済みの照会番号: ${d.reference_number}`;
      $('reference-close').focus();
      return;
    }
    const err = res.error || NETWORK_ERROR;
    if (refNumbers.showServerError(err)) {
      refStatus.textContent = '';
    } else {
      refStatus.textContent = err.message;
      refStatus.className = 'c-form-status c-err';
    }
  });

  // ---------------------------------------------------------------- views

  // 本日の受付 and 一括照会 share the main area; the side panels stay (目視確認 must be seen).
  const viewTabs = [...document.querySelectorAll('.c-view-tab[data-view]')];

  function showView(name, focus) {
    for (const t of viewTabs) {
      const on = t.dataset.view === name;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !on;
      if (on && focus) t.focus();
    }
    // The batch tables need the width: the side panels give way, except 目視確認.
    $('main').dataset.view = name;
    if (name === 'batches') loadBatches();
    if (name === 'offline') loadOffline();
  }

  for (const t of viewTabs) {
    t.addEventListener('click', () => showView(t.dataset.view, false));
    t.addEventListener('keydown', (e) => {
      const i = viewTabs.indexOf(t);
      let j = -1;
      if (e.key === 'ArrowRight') j = (i + 1) % viewTabs.length;
      else if (e.key === 'ArrowLeft') j = (i - 1 + viewTabs.length) % viewTabs.length;
      else if (e.key === 'Home') j = 0;
      else if (e.key === 'End') j = viewTabs.length - 1;
      if (j < 0) return;
      e.preventDefault();
      showView(viewTabs[j].dataset.view, true);
    });
  }

  // ---------------------------------------------------------------- 一括照会

  const BATCH_MAX_LINES = 5000;
  const batchForm = $('batch-form');
  const batchDate = $('bf-date');
  const batchLines = $('bf-lines');
  const batchFile = $('bf-file');
  const batchStatus = $('batch-status');
  const batchErrors = $('batch-errors');
  const batchSubmit = $('batch-submit');
  const batchRows = $('batch-rows');
  const batchResult = $('batch-result');
  let batchSending = false;
  let batchList = []; // summaries, newest first
  let batchListLoaded = false;
  let batchPoll = 0;
  let opened = null; // {number, data, token}
  let openToken = 0;

  // yyyyMMdd `days` after `d8`.
  function addDays(d8, days) {
    const dt = new Date(Date.UTC(+d8.slice(0, 4), +d8.slice(4, 6) - 1, +d8.slice(6, 8) + days));
    const p = (n) => String(n).padStart(2, '0');
    return `${dt.getUTCFullYear()}${p(dt.getUTCMonth() + 1)}${p(dt.getUTCDate())}`;
  }

  const toIso = (d8) => `${d8.slice(0, 4)}-${d8.slice(4, 6)}-${d8.slice(6, 8)}`;
  const fromIso = (iso) => (/^\d{4}-\d{2}-\d{2}$/.test(iso) ? iso.replace(/-/g, '') : '');

  function weekday(d8) {
    return WEEKDAYS[new Date(Date.UTC(+d8.slice(0, 4), +d8.slice(4, 6) - 1, +d8.slice(6, 8))).getUTCDay()];
  }

  // "2026-04-01T10:02:03+09:00" → "2026/04/01 10:02".
  function fmtStamp(at) {
    const m = typeof at === 'string' ? /^(\d{4})-(\d{2})-(\d{2})T(\d{2}:\d{2})/.exec(at) : null;
    return m ? `${m[1]}/${m[2]}/${m[3]} ${m[4]}` : at || DASH;
  }

  // The lines that will be sent: not blank, and not a first line naming the columns.
  function dataLines(text) {
    const lines = text.split(/\r?\n/).filter((l) => l.replace(/[,，\t\s]/g, '') !== '');
    if (lines.length && /保険者|insurer/i.test(toHalfWidth(lines[0].split(/[,，\t]/)[0]))) lines.shift();
    return lines.length;
  }

  function refreshBatchForm() {
    const d8 = fromIso(batchDate.value);
    const today = todayJst();
    let dateError = '';
    if (!d8) dateError = '資格確認日を選んでください。';
    else if (d8 < today) dateError = '過去の日付です。';
    $('be-date').textContent = dateError;
    batchDate.setAttribute('aria-invalid', dateError ? 'true' : 'false');
    $('bh-date').textContent =
      d8 && !dateError
        ? `${+d8.slice(0, 4)}年${+d8.slice(4, 6)}月${+d8.slice(6, 8)}日（${weekday(d8)}）${d8 === today ? '・本日' : d8 === addDays(today, 1) ? '・明日' : ''}`
        : '';
    const n = dataLines(batchLines.value);
    let linesError = '';
    if (n > BATCH_MAX_LINES) linesError = `一度に照会できるのは5,000件までです（いま${n.toLocaleString('ja-JP')}件）。分けて送信してください。`;
    $('be-lines').textContent = linesError;
    batchLines.setAttribute('aria-invalid', linesError ? 'true' : 'false');
    $('bh-lines').textContent = n ? `${n.toLocaleString('ja-JP')}件` : '';
    batchSubmit.disabled = batchSending || !!dateError || !!linesError || n === 0;
  }

  function resetBatchForm() {
    batchLines.value = '';
    batchFile.value = '';
    batchDate.value = toIso(addDays(todayJst(), 1));
    batchErrors.hidden = true;
    batchErrors.replaceChildren();
    refreshBatchForm();
  }

  batchDate.addEventListener('input', refreshBatchForm);
  batchDate.addEventListener('change', refreshBatchForm);
  batchLines.addEventListener('input', () => {
    batchErrors.hidden = true;
    refreshBatchForm();
  });

  // A file: UTF-8 (with or without BOM), else Shift_JIS; its text goes into the box to check.
  batchFile.addEventListener('change', async () => {
    const file = batchFile.files && batchFile.files[0];
    if (!file) return;
    batchErrors.hidden = true;
    let text;
    let encoding = 'UTF-8';
    try {
      const buf = await file.arrayBuffer();
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
      } catch {
        text = new TextDecoder('shift_jis').decode(buf);
        encoding = 'Shift_JIS';
      }
    } catch {
      batchStatus.textContent = 'ファイルを読み込めませんでした。';
      batchStatus.className = 'c-form-status c-err';
      return;
    }
    batchLines.value = text.replace(/^\uFEFF/, '');
    batchStatus.textContent = `ファイルを読み込みました（${encoding}、${dataLines(text).toLocaleString('ja-JP')}件）。内容を確かめて送信してください。`;
    batchStatus.className = 'c-form-status';
    refreshBatchForm();
  });

  $('batch-clear').addEventListener('click', () => {
    resetBatchForm();
    batchStatus.textContent = '';
    batchLines.focus();
  });

  // Selects line `n` (1-based) of the box, to fix it.
  function selectLine(n) {
    const lines = batchLines.value.split('\n');
    let start = 0;
    for (let i = 0; i < n - 1 && i < lines.length; i++) start += lines[i].length + 1;
    const end = start + (lines[n - 1] || '').replace(/\r$/, '').length;
    batchLines.focus();
    batchLines.setSelectionRange(start, end);
    // Scroll the line into view: rows are of equal height.
    const lineHeight = batchLines.scrollHeight / Math.max(lines.length, 1);
    batchLines.scrollTop = Math.max(0, (n - 3) * lineHeight);
  }

  function showLineErrors(error) {
    const list = Array.isArray(error.errors) ? error.errors : [];
    const rows = list.map((e) =>
      h(
        'tr',
        null,
        h(
          'td',
          { class: 'c-nowrap c-num' },
          e.line > 0
            ? h('button', { type: 'button', class: 'c-btn c-small c-linkish', 'data-line': e.line, title: 'この行を選択' }, `${e.line}行目`)
            : '全体',
        ),
        h('td', { class: 'c-nowrap' }, e.column ? `${e.column}列目（${e.label || ''}）` : DASH),
        h('td', null, e.message),
      ),
    );
    batchErrors.replaceChildren(
      h('p', { class: 'c-line-errors-head', tabindex: '-1', id: 'batch-errors-head' }, error.message),
      rows.length
        ? h(
            'div',
            { class: 'c-table-wrap c-line-errors-wrap' },
            h(
              'table',
              { class: 'c-line-errors-table' },
              h('thead', null, h('tr', null, h('th', { scope: 'col' }, '行'), h('th', { scope: 'col' }, '列'), h('th', { scope: 'col' }, '直すこと'))),
              h('tbody', null, rows),
            ),
          )
        : null,
    );
    batchErrors.hidden = false;
    $('batch-errors-head').focus();
  }

  batchErrors.addEventListener('click', (e) => {
    const btn = e.target instanceof Element ? e.target.closest('button[data-line]') : null;
    if (btn) selectLine(Number(btn.dataset.line));
  });

  batchForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    refreshBatchForm();
    if (batchSending || batchSubmit.disabled) return;
    const body = { qualification_confirmation_date: fromIso(batchDate.value), csv: batchLines.value };
    batchSending = true;
    refreshBatchForm();
    batchErrors.hidden = true;
    batchStatus.textContent = '送信中…';
    batchStatus.className = 'c-form-status';
    const res = await request('POST', '/console/batches', body, { central: true });
    batchSending = false;
    if (res.ok && res.data) {
      const a = res.data;
      // The lines are with the central now: forget them here.
      resetBatchForm();
      batchStatus.replaceChildren(
        h('strong', null, `送信しました。受付番号 ${a.reception_number}（${Number(a.items).toLocaleString('ja-JP')}件）`),
        h('span', { class: 'c-sub' }, '結果は下の一覧に表示されます。'),
      );
      batchStatus.className = 'c-form-status c-ok';
      await loadBatches();
      await openBatch(a.reception_number, false);
      // Shown as soon as done (unless staff are typing the next upload meanwhile).
      if (opened && opened.number === a.reception_number) opened.reveal = true;
      if (opened && opened.data && opened.data.status === 'done') revealBatch();
      return;
    }
    refreshBatchForm();
    const err = res.error || NETWORK_ERROR;
    if (Array.isArray(err.errors)) {
      batchStatus.textContent = '';
      showLineErrors(err);
    } else if (err.field === 'qualification_confirmation_date') {
      batchStatus.textContent = '';
      $('be-date').textContent = err.message;
      batchDate.setAttribute('aria-invalid', 'true');
      batchDate.focus();
    } else {
      batchStatus.textContent = err.message;
      batchStatus.className = 'c-form-status c-err';
    }
  });

  // The list of the institution's batches; polled every 2 s while one is processing.
  async function loadBatches() {
    clearTimeout(batchPoll);
    const res = await request('GET', '/console/batches', undefined, { central: true });
    if (res.ok && Array.isArray(res.data)) {
      batchList = res.data;
      batchListLoaded = true;
      renderBatchList();
      // A batch opened while processing is shown as soon as it is done.
      if (opened && !opened.data?.units?.length) {
        const s = batchList.find((b) => b.reception_number === opened.number);
        if (s && s.status === 'done') openBatch(opened.number, false);
      }
    } else if (!batchListLoaded) {
      batchRows.replaceChildren(
        h('tr', { class: 'c-empty' }, h('td', { colspan: 7 }, `一覧を読み込めません。${res.error ? res.error.message : ''}`)),
      );
    }
    if (batchList.some((b) => b.status === 'processing')) {
      batchPoll = setTimeout(loadBatches, 2000);
    }
  }

  function statusBadge(status) {
    return status === 'done'
      ? h('span', { class: 'c-badge c-v-ok' }, '完了')
      : h('span', { class: 'c-badge c-v-info c-busy' }, '処理中');
  }

  function renderBatchList() {
    if (!batchList.length) {
      batchRows.replaceChildren(h('tr', { class: 'c-empty' }, h('td', { colspan: 7 }, '一括照会はまだありません。')));
      return;
    }
    batchRows.replaceChildren(
      ...batchList.map((b) => {
        const done = b.status === 'done';
        const count = (n) => (done ? Number(n).toLocaleString('ja-JP') : DASH);
        return h(
          'tr',
          {
            'data-reception-number': b.reception_number,
            'data-status': b.status,
            class: opened && opened.number === b.reception_number ? 'is-open' : null,
          },
          h('td', { class: 'c-num c-nowrap' }, b.reception_number),
          h('td', { class: 'c-num c-nowrap' }, fmtStamp(b.submitted_at)),
          h('td', { class: 'c-nowrap' }, statusBadge(b.status)),
          h('td', { class: 'c-num c-right' }, Number(b.items).toLocaleString('ja-JP')),
          h('td', { class: 'c-num c-right' }, count(b.normal)),
          h('td', { class: `c-num c-right ${done && b.errors > 0 ? 'c-err-count' : ''}`.trim() }, count(b.errors)),
          h(
            'td',
            { class: 'c-nowrap' },
            h(
              'button',
              { type: 'button', class: 'c-btn c-small', 'data-action': 'batch-open', 'data-reception-number': b.reception_number },
              '結果を見る',
            ),
          ),
        );
      }),
    );
  }

  batchRows.addEventListener('click', (e) => {
    const btn = e.target instanceof Element ? e.target.closest('button[data-action="batch-open"]') : null;
    if (btn) openBatch(btn.dataset.receptionNumber, true);
  });

  // Fetches and shows one batch (by its 受付番号, which names no one).
  async function openBatch(number, focus) {
    if (!/^\d+$/.test(number)) return;
    const token = ++openToken;
    if (!opened || opened.number !== number) {
      opened = { number, data: null };
      $('batch-result-title').textContent = `受付番号 ${number} の結果`;
      $('batch-summary').textContent = '';
      $('batch-units').replaceChildren(h('p', { class: 'c-loading' }, '読み込み中…'));
    }
    batchResult.hidden = false;
    renderBatchList();
    if (focus) $('batch-result-title').focus();
    const res = await request('GET', `/console/batches/${number}`, undefined, { central: true });
    if (token !== openToken || !opened || opened.number !== number) return; // closed or switched
    if (!res.ok || !res.data) {
      $('batch-units').replaceChildren(h('p', { class: 'c-med-error', role: 'alert' }, (res.error || NETWORK_ERROR).message));
      return;
    }
    opened.data = res.data;
    renderBatch();
    if (res.data.status !== 'done') loadBatches(); // keep polling until it is done
    else if (opened.reveal) revealBatch();
    if (focus) batchResult.scrollIntoView({ block: 'start' });
  }

  function revealBatch() {
    opened.reveal = false;
    const typing = document.activeElement && document.activeElement.matches('input, textarea, select');
    if (!typing) batchResult.scrollIntoView({ block: 'start' });
  }

  function closeBatch() {
    // Forget the results as soon as they are closed.
    opened = null;
    openToken++;
    batchResult.hidden = true;
    $('batch-units').replaceChildren();
    $('batch-summary').textContent = '';
    renderBatchList();
  }

  $('batch-result-close').addEventListener('click', closeBatch);
  $('batch-only-issues').addEventListener('change', () => opened && opened.data && renderBatch());

  // A unit needs a look unless its answer is 有効.
  function unitOk(u) {
    return u.processing_result && u.processing_result.status === '1' && u.response && u.response.validity === '1';
  }

  function renderBatch() {
    const d = opened.data;
    const units = Array.isArray(d.units) ? d.units : [];
    const first = units.find((u) => u.response) || null;
    const date = first ? first.response.qualification_confirmation_date : units[0]?.request?.qualification_confirmation_date;
    const issues = units.filter((u) => !unitOk(u)).length;
    $('batch-summary').replaceChildren(
      statusBadge(d.status),
      h('span', null, `資格確認日 ${date ? fmtDate8(date) : DASH}`),
      h('span', null, `${Number(d.items).toLocaleString('ja-JP')}件`),
      d.status === 'done' ? h('span', null, `正常 ${d.normal}・エラー ${d.errors}`) : null,
      d.status === 'done' ? h('span', null, `要確認 ${issues}件`) : null,
      h('span', { class: 'c-sub' }, `送信 ${fmtStamp(d.submitted_at)}${d.finished_at ? `・完了 ${fmtStamp(d.finished_at)}` : ''}`),
    );
    if (d.status !== 'done') {
      $('batch-units').replaceChildren(h('p', { class: 'c-loading', role: 'status' }, '処理中です。終わると結果がここに表示されます。'));
      return;
    }
    const only = $('batch-only-issues').checked;
    const shown = only ? units.filter((u) => !unitOk(u)) : units;
    if (!shown.length) {
      $('batch-units').replaceChildren(h('p', { class: 'c-none' }, only ? '要確認の患者はいません。すべて有効です。' : '結果がありません。'));
      return;
    }
    $('batch-units').replaceChildren(
      h(
        'div',
        { class: 'c-scroll-x' },
        h(
        'table',
        { class: 'c-batch-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['No.', '氏名（カナ）', '生年月日', '保険者番号', '記号・番号・枝番', '資格有効性', '負担割合', '照会番号', 'エラー・注意'].map((t) =>
              h('th', { scope: 'col' }, t),
            ),
          ),
        ),
        h('tbody', null, shown.map(unitRow)),
        ),
      ),
    );
  }

  function unitRow(u) {
    const req = u.request || {};
    const ans = u.response || null;
    const results = ans && Array.isArray(ans.results) ? ans.results : [];
    const q = results[0] || null;
    const failed = !ans || (u.processing_result && u.processing_result.status === '2');
    const notes = [];
    if (u.error && u.error.message) notes.push(u.error.message);
    else if (failed && u.processing_result && u.processing_result.message) notes.push(u.processing_result.message);
    if (ans && ans.processing_result && ans.processing_result.status === '2' && ans.processing_result.message) {
      notes.push(ans.processing_result.message);
    }
    if (q && q.disqualification_date) notes.push(`資格喪失日 ${fmtDate8(q.disqualification_date)}`);
    if (results.length > 1) notes.push(`ほか${results.length - 1}名が該当（枝番を確認）`);
    const label = failed ? 'エラー' : ans.validity_label || ans.validity || DASH;
    return h(
      'tr',
      { 'data-unit': u.index, class: failed ? 'is-error' : null },
      h('td', { class: 'c-num c-right' }, u.index),
      q
        ? h('td', { class: 'c-person' }, h('span', { class: 'c-name' }, q.name || DASH), h('span', { class: 'c-sub' }, readable(q.name_kana)))
        : h('td', null, DASH),
      h('td', { class: 'c-num c-nowrap' }, fmtDate8(req.birthdate)),
      h('td', { class: 'c-num c-nowrap' }, req.insurer_number || DASH, q && q.insurer_name ? h('span', { class: 'c-sub' }, q.insurer_name) : null),
      h('td', { class: 'c-num' }, [req.symbol || DASH, req.number || DASH, req.branch || DASH].join('・')),
      h(
        'td',
        { class: 'c-nowrap' },
        h('span', { class: `c-badge ${failed ? 'c-v-bad' : validityClass(ans.validity)}`, 'data-validity': failed ? 'error' : ans.validity }, label),
      ),
      h('td', { class: 'c-nowrap' }, q ? copayLabel(q.copay_ratio) : DASH),
      h('td', { class: 'c-num c-nowrap' }, q && q.reference_number ? q.reference_number : DASH),
      h('td', { class: failed ? 'c-unit-error' : null }, notes.join(' ') || ''),
    );
  }

  // ---------------------------------------------------------------- 障害時受付

  // While the central cannot be reached, the terminal records visits (要後日確認) and checks
  // them when it answers again. The state is polled: the header and a banner say whether the
  // central answers, the third tab lists the visits, how their later check turned out and what
  // staff must do about it; staff note the patient's 申告 on a pending visit.
  const OFFLINE_POLL_MS = 3000;
  const OFFLINE_METHOD_LABELS = { pin: 'カード・暗証番号', visual: 'カード・目視', numbers: '保険証番号' };
  const offlineRows = $('offline-rows');
  let offlineData = null; // the last GET /console/offline
  let offlineShown = ''; // what the table shows, to redraw only on a change
  let offlineSummary = ''; // what the counts show, likewise (they are read out when they change)
  let offlineToken = 0;
  let offlinePoll = 0;
  let recovering = false; // the central answers again and visits are still being checked

  async function loadOffline() {
    clearTimeout(offlinePoll);
    const token = ++offlineToken;
    const res = await request('GET', '/console/offline');
    if (token !== offlineToken) return; // a newer poll is under way
    if (res.ok && res.data && typeof res.data === 'object') {
      applyOffline(res.data);
    } else if (!offlineData) {
      $('offline-summary').replaceChildren(
        h('p', { class: 'c-med-error', role: 'alert' }, `障害時受付を読み込めません。${(res.error || NETWORK_ERROR).message}`),
      );
    }
    offlinePoll = setTimeout(loadOffline, OFFLINE_POLL_MS);
  }

  function applyOffline(d) {
    const c = d.counts || {};
    offlineData = {
      counts: {
        pending: Number(c.pending) || 0,
        confirmed: Number(c.confirmed) || 0,
        discrepancy: Number(c.discrepancy) || 0,
        failed: Number(c.failed) || 0,
        // Discrepancies and failures staff have not yet marked as dealt with.
        needsAction: c.needs_action === undefined ? (Number(c.discrepancy) || 0) + (Number(c.failed) || 0) : Number(c.needs_action) || 0,
      },
      visits: Array.isArray(d.visits) ? d.visits : [],
    };
    setCentral(d.central === 'offline' || d.central === 'unknown' ? d.central : 'online');
    renderOfflineCounts();
    renderOfflineList();
  }

  function viewOfflineButton() {
    return h('button', { type: 'button', class: 'c-btn c-small', onclick: () => showView('offline', true) }, '障害時受付を見る');
  }

  // The header indicator, the banner and the check form's hint follow the central's state.
  function setCentral(state) {
    const was = centralState;
    if (state === was) return;
    centralState = state;
    const el = $('central-status');
    el.dataset.central = state;
    el.textContent =
      state === 'offline' ? '中央サーバ: 接続できません' : state === 'unknown' ? '中央サーバ: 確認中' : '中央サーバ: 接続中';
    $('check-offline-hint').hidden = state !== 'offline';
    if (state === 'offline') {
      recovering = false;
      hideBanner('central');
      hideBanner('recovered');
      showBanner(
        'offline',
        [
          h('strong', { class: 'c-banner-head' }, '中央サーバに接続できません。受付は続けられます（要後日確認として記録し、接続が戻ると自動で確認します）'),
          h(
            'span',
            { class: 'c-banner-sub' },
            'マイナンバーカードは受付機で、保険証・資格確認書は「保険証・資格確認書で確認」で、いつもどおり受け付けてください。受け付けたら、患者さんの申告（負担割合・氏名など）を記録してください。',
          ),
        ],
        { tone: 'warn', closable: false, actions: [viewOfflineButton()] },
      );
    } else {
      hideBanner('offline');
      if (was === 'offline') recovering = true;
    }
  }

  // The tab's badge, the progress, what needs staff, and the banner while catching up.
  function renderOfflineCounts() {
    const c = offlineData.counts;
    const total = c.pending + c.confirmed + c.discrepancy + c.failed;
    const done = total - c.pending;
    const issues = c.needsAction;
    const open = c.pending + issues;

    const badge = $('offline-badge');
    badge.hidden = open === 0;
    badge.textContent = String(open);
    badge.classList.toggle('is-alert', issues > 0);
    $('view-tab-offline').setAttribute(
      'aria-label',
      open ? `障害時受付（要後日確認 ${c.pending}件・要対応 ${issues}件）` : '障害時受付',
    );
    const sig = JSON.stringify([c, centralState, recovering]);
    if (sig === offlineSummary) return;
    offlineSummary = sig;

    const chip = (status, label, n) =>
      h('span', { class: `c-badge ${n ? OFFLINE_STATUS_CLASS[status] : 'c-v-none'}`, 'data-count': status }, `${label} ${n}件`);
    $('offline-summary').replaceChildren(
      h(
        'div',
        { class: 'c-offline-progress' },
        h('strong', { id: 'offline-progress' }, `後日確認: ${total.toLocaleString('ja-JP')}件中 ${done.toLocaleString('ja-JP')}件 完了`),
        h('progress', { max: Math.max(total, 1), value: total ? done : 0, 'aria-labelledby': 'offline-progress' }),
        h(
          'span',
          { class: 'c-sub' },
          centralState === 'offline'
            ? '中央サーバに接続できません。接続が戻ると自動で確認します。'
            : c.pending
              ? '中央サーバに接続しています。順に確認しています…'
              : '中央サーバに接続しています。',
        ),
      ),
      h(
        'div',
        { class: 'c-chips c-offline-counts' },
        chip('pending', '要後日確認', c.pending),
        chip('confirmed', '確認済み', c.confirmed),
        chip('discrepancy', '相違あり', c.discrepancy),
        chip('failed', '確認できず', c.failed),
      ),
    );

    // What staff must do, kept in view.
    const attention = $('offline-attention');
    attention.hidden = issues === 0;
    attention.replaceChildren(
      h('p', { class: 'c-offline-attention-head' }, `対応が必要な受付が${issues}件あります`),
      h(
        'ul',
        null,
        c.discrepancy
          ? h('li', null, h('strong', null, `相違あり ${c.discrepancy}件: `), '受付日の資格または負担割合が申告と違います。患者さんに説明し、保険証等の確認や差額の精算をしてください。')
          : null,
        c.failed ? h('li', null, h('strong', null, `確認できず ${c.failed}件: `), OFFLINE_TODO.failed) : null,
      ),
    );

    if (recovering) {
      if (c.pending > 0) {
        showBanner('recovered', `中央サーバとの接続が戻りました。障害時受付を確認しています（後日確認: ${total}件中 ${done}件 完了）。`, {
          tone: 'ok',
          actions: [viewOfflineButton()],
        });
      } else {
        recovering = false;
        showBanner(
          'recovered',
          issues
            ? `中央サーバとの接続が戻り、後日確認が終わりました。対応が必要な受付が${issues}件あります（相違あり ${c.discrepancy}件・確認できず ${c.failed}件）。`
            : '中央サーバとの接続が戻り、後日確認が終わりました。',
          { tone: issues ? 'warn' : 'ok', actions: [viewOfflineButton()] },
        );
      }
    }
  }

  function renderOfflineList() {
    const only = $('offline-only-open').checked;
    const visits = offlineData.visits.filter((v) => !only || v.status !== 'confirmed');
    const sig = JSON.stringify([only, visits]);
    if (sig === offlineShown) return;
    offlineShown = sig;
    // Keep the focus on a row's button across a redraw (the list is polled).
    const active = document.activeElement;
    const focusId = offlineRows.contains(active) && active.dataset ? active.dataset.visitId : null;
    if (!visits.length) {
      offlineRows.replaceChildren(
        h(
          'tr',
          { class: 'c-empty' },
          h(
            'td',
            { colspan: 8 },
            only && offlineData.visits.length
              ? 'すべて確認済みです。'
              : '障害時受付はありません。中央サーバに接続できない間の受付がここに表示されます。',
          ),
        ),
      );
      return;
    }
    offlineRows.replaceChildren(...visits.map(offlineRow));
    if (focusId) offlineRows.querySelector(`button[data-visit-id="${CSS.escape(focusId)}"]`)?.focus();
  }

  function offlineMethod(v) {
    return v.source === 'files' ? 'レセコン' : OFFLINE_METHOD_LABELS[v.method] || v.method || DASH;
  }

  // The insurance numbers of a visit by numbers, else null.
  function offlineNumbers(v) {
    return v.proof && v.proof.kind === 'numbers' && v.proof.request ? v.proof.request : null;
  }

  function offlineRow(v) {
    const req = offlineNumbers(v);
    const q = v.answer && Array.isArray(v.answer.results) ? v.answer.results[0] || null : null;
    const note = v.note || {};
    const cls = OFFLINE_STATUS_CLASS[v.status] || 'c-v-info';
    const attention = (v.status === 'discrepancy' || v.status === 'failed') && !v.resolved_at;
    const name = q ? q.name : note.name;
    const kana = q ? readable(q.name_kana) : note.name_kana;
    const birth = q ? q.birthdate : note.birthdate || (req && req.birthdate);

    let outcome;
    if (v.problem) {
      const todo = offlineTodo(v.status, v.answer);
      outcome = [h('strong', { class: `c-problem is-${v.status}` }, v.problem), todo ? h('span', { class: 'c-todo' }, todo) : null];
    } else if (v.status === 'pending') {
      outcome = [h('span', { class: 'c-sub' }, '接続が戻ると自動で確認します。')];
    } else if (v.answer) {
      outcome = [`${v.answer.validity_label || ''}${q && q.insurer_name ? `・${q.insurer_name}` : ''}`];
    } else {
      outcome = [];
    }
    if (v.reconciled_at) outcome.push(h('span', { class: 'c-sub' }, `確認 ${fmtStamp(v.reconciled_at)}`));
    if (v.resolved_at) outcome.push(h('span', { class: 'c-sub' }, `対応済み ${fmtStamp(v.resolved_at)}: ${v.resolution || ''}`));

    const noted = Object.values(note).some((x) => x);
    return h(
      'tr',
      { 'data-visit-id': v.id, 'data-status': v.status, class: attention ? `is-${v.status}` : null },
      h('td', { class: 'c-num c-nowrap' }, visitTime(v.visited_at), h('span', { class: 'c-sub' }, fmtDate8(String(v.visited_at).slice(0, 8)))),
      h('td', { class: 'c-nowrap' }, offlineMethod(v), h('span', { class: 'c-sub' }, SOURCE_LABELS[v.source] || v.source || '')),
      req
        ? h(
            'td',
            { class: 'c-num c-nowrap' },
            req.insurer_number,
            h('span', { class: 'c-sub' }, [`記号 ${req.symbol || DASH}`, `番号 ${req.number}`, req.branch ? `枝番 ${req.branch}` : ''].filter(Boolean).join('・')),
          )
        : h('td', null, h('span', { class: 'c-sub' }, 'マイナンバーカード')),
      name
        ? h(
            'td',
            { class: 'c-person' },
            h('span', { class: 'c-name' }, name),
            kana ? h('span', { class: 'c-sub' }, kana) : null,
            birth ? h('span', { class: 'c-sub c-num' }, `${fmtDate8(birth)}生`) : null,
            q && note.name && note.name.replace(/\s/g, '') !== String(q.name).replace(/\s/g, '') ? h('span', { class: 'c-sub' }, `申告: ${note.name}`) : null,
          )
        : h('td', null, v.status === 'pending' ? h('span', { class: 'c-sub' }, '未記録') : DASH),
      h(
        'td',
        { class: 'c-nowrap' },
        note.declared_copay ? copayLabel(note.declared_copay) : h('span', { class: 'c-sub' }, '未記録'),
        q && q.copay_ratio ? h('span', { class: 'c-sub' }, `資格情報 ${copayLabel(q.copay_ratio)}`) : null,
      ),
      h('td', { class: 'c-nowrap' }, h('span', { class: `c-badge c-status ${cls}` }, v.status_label || v.status)),
      h('td', { class: 'c-outcome' }, outcome),
      h(
        'td',
        { class: 'c-nowrap' },
        v.status === 'pending'
          ? h(
              'button',
              { type: 'button', class: 'c-btn c-small', 'data-action': 'note-open', 'data-visit-id': v.id },
              noted ? '申告を編集' : '申告を記録',
            )
          : attention
            ? h('button', { type: 'button', class: 'c-btn c-small', 'data-action': 'resolve', 'data-visit-id': v.id }, '対応済みにする')
            : null,
      ),
    );
  }

  // Marks a discrepancy or failure as dealt with, with what staff did.
  offlineRows.addEventListener('click', async (e) => {
    const btn = e.target instanceof Element ? e.target.closest('button[data-action="resolve"]') : null;
    if (!btn) return;
    const text = window.prompt('対応内容を入力してください（例: 差額を精算した、保険証で確認した）');
    if (text === null || !text.trim()) return;
    const res = await request('POST', `/console/offline/${encodeURIComponent(btn.dataset.visitId)}/resolve`, { resolution: text.trim() });
    $('offline-status').textContent = res.ok ? '対応済みにしました。' : (res.error || NETWORK_ERROR).message;
    loadOffline();
  });

  offlineRows.addEventListener('click', (e) => {
    const btn = e.target instanceof Element ? e.target.closest('button[data-action="note-open"]') : null;
    if (!btn || !offlineData) return;
    const v = offlineData.visits.find((x) => x.id === btn.dataset.visitId);
    if (!v) return;
    openNote(v, {
      onDone: (message) => {
        $('offline-status').textContent = message;
      },
      // The row is redrawn meanwhile: back to its button, or to the list once it is gone.
      returnFocus: () =>
        (offlineRows.querySelector(`button[data-visit-id="${CSS.escape(v.id)}"]`) || $('offline-only-open')).focus(),
    });
  });

  $('offline-only-open').addEventListener('change', () => offlineData && renderOfflineList());

  // ---------------------------------------------------------------- 申告 of an offline visit

  const noteDialog = $('note');
  const noteForm = $('note-form');
  const noteStatus = $('note-status');
  const NOTE_FIELDS = ['declared_copay', 'name', 'name_kana', 'sex', 'birthdate', 'address'];
  const NOTE_TEXT = { name: ['氏名', 100], name_kana: ['カナ', 100], address: ['住所', 200] };
  let noting = null; // {visit, touched, serverErrors, saving, onDone, returnFocus, message}

  const noteField = (name) => noteForm.elements.namedItem(name);

  function focusNoteField(name) {
    const el = noteField(name);
    (el instanceof RadioNodeList ? el[0] : el)?.focus();
  }

  // Hiragana and half-width katakana → full-width katakana; spaces full-width as in 氏名.
  function katakana(s) {
    return s
      .normalize('NFKC')
      .replace(/[\u3041-\u3096]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0x60))
      .replace(/ +/g, '\u3000');
  }

  function readNote() {
    const text = (name) => noteField(name).value.trim();
    const birth = text('birthdate');
    return {
      declared_copay: noteField('declared_copay').value,
      name: text('name'),
      name_kana: katakana(text('name_kana')).trim(),
      sex: noteField('sex').value,
      birthdate: birth ? normalizeBirthdate(birth) : '',
      address: text('address'),
    };
  }

  function noteErrors(n) {
    const errors = {};
    for (const [f, [label, max]] of Object.entries(NOTE_TEXT)) {
      const len = [...n[f]].length;
      if (len > max) errors[f] = `${label}は${max}文字以内で入力してください（いま${len}文字）。`;
      else if (CONTROL_CHARS.test(n[f])) errors[f] = `${label}に改行・タブなどの制御文字は使えません。`;
    }
    if (n.birthdate) {
      const b = birthdateError(n.birthdate);
      if (b) errors.birthdate = b;
    }
    return errors;
  }

  function refreshNote() {
    if (!noting) return { n: readNote(), errors: {} };
    const n = readNote();
    const errors = noteErrors(n);
    for (const f of NOTE_FIELDS) {
      const msg = noting.serverErrors[f] || (noting.touched.has(f) ? errors[f] : '') || '';
      $(`ne-${f}`).textContent = msg;
      const input = $(`nf-${f}`);
      if (input) input.setAttribute('aria-invalid', msg ? 'true' : 'false');
    }
    $('nh-birthdate').textContent = n.birthdate && !errors.birthdate ? birthdateReading(n.birthdate) : '';
    $('nh-name_kana').textContent =
      n.name_kana && !/^[\u30A1-\u30FC\s]+$/.test(n.name_kana) ? 'カタカナで入力してください（ひらがなは自動で直します）。' : '';
    $('note-submit').disabled = noting.saving || Object.keys(errors).length > 0;
    return { n, errors };
  }

  // Opens the note of a pending visit: what was noted before, else the birth date known.
  // `recorded` says the visit was just recorded; `onDone(message)` tells where it was opened
  // from; `returnFocus()` puts the focus back.
  function openNote(visit, { recorded = '', birthdate = '', onDone = null, returnFocus = null } = {}) {
    noteForm.reset();
    const note = visit.note || {};
    const req = offlineNumbers(visit);
    noting = {
      visit,
      touched: new Set(),
      serverErrors: {},
      saving: false,
      onDone,
      returnFocus,
      message: '',
    };
    for (const f of ['name', 'name_kana', 'address']) noteField(f).value = note[f] || '';
    noteField('birthdate').value = note.birthdate || birthdate || (req && req.birthdate) || '';
    if (note.declared_copay) noteField('declared_copay').value = note.declared_copay;
    if (note.sex) noteField('sex').value = note.sex;
    $('note-who').textContent = [
      `受付 ${fmtDateTime14(visit.visited_at)}`,
      req ? `保険者番号 ${req.insurer_number}・番号 ${req.number}` : offlineMethod(visit),
    ].join('　');
    $('note-recorded').textContent = recorded;
    $('note-recorded').hidden = !recorded;
    noteStatus.textContent = '';
    noteStatus.className = 'c-form-status';
    for (const f of NOTE_FIELDS) if (noteField(f).value) noting.touched.add(f);
    refreshNote();
    if (typeof noteDialog.showModal === 'function') noteDialog.showModal();
    else noteDialog.setAttribute('open', '');
    // The declared co-pay first: it is what the later check compares.
    (noteForm.querySelector('input[name="declared_copay"]:checked') || noteForm.querySelector('input[name="declared_copay"]')).focus();
  }

  noteForm.addEventListener('input', (e) => {
    if (!noting) return;
    const name = e.target && e.target.name;
    if (!name) return;
    delete noting.serverErrors[name];
    // Judge a field as soon as it can be wrong: text at once, the date once complete.
    if (name !== 'birthdate' || normalizeBirthdate(e.target.value).length >= 8) noting.touched.add(name);
    refreshNote();
  });

  // On leaving a field: judge it and show the converted value.
  noteForm.addEventListener(
    'blur',
    (e) => {
      const el = e.target;
      if (!noting || !el || !NOTE_FIELDS.includes(el.name) || el.type === 'radio') return;
      if (el.value !== '') noting.touched.add(el.name);
      const n = readNote();
      if (el.name === 'birthdate' && /^\d{8}$/.test(n.birthdate)) el.value = n.birthdate;
      if (el.name === 'name_kana') el.value = n.name_kana;
      refreshNote();
    },
    true,
  );

  noteForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!noting || noting.saving) return;
    for (const f of NOTE_FIELDS) noting.touched.add(f);
    const { n, errors } = refreshNote();
    const first = NOTE_FIELDS.find((f) => errors[f]);
    if (first) {
      focusNoteField(first);
      return;
    }
    const body = Object.fromEntries(Object.entries(n).filter(([, v]) => v !== ''));
    if (!Object.keys(body).length && !Object.values(noting.visit.note || {}).some((x) => x)) {
      noteStatus.textContent = '記録する内容がありません。負担割合か氏名などを入力してください（あとで入力する場合は「あとで入力」）。';
      noteStatus.className = 'c-form-status c-err';
      focusNoteField('declared_copay');
      return;
    }
    const mine = noting;
    mine.saving = true;
    refreshNote();
    noteStatus.textContent = '記録中…';
    noteStatus.className = 'c-form-status';
    const res = await request('POST', `/console/offline/${encodeURIComponent(mine.visit.id)}/note`, body);
    mine.saving = false;
    if (noting !== mine) return; // closed meanwhile
    if (res.ok && res.data) {
      const v = res.data;
      mine.message =
        v.status && v.status !== 'pending'
          ? `記録しました。ただし、この受付の後日確認はすでに終わっています（${v.status_label || v.status}）。負担割合は受付一覧の資格情報で確かめてください。`
          : '患者さんの申告を記録しました。';
      noteDialog.close();
      loadOffline();
      return;
    }
    refreshNote();
    const err = res.error || NETWORK_ERROR;
    if (err.field && NOTE_FIELDS.includes(err.field)) {
      noteStatus.textContent = '';
      noting.serverErrors = { [err.field]: err.message };
      refreshNote();
      focusNoteField(err.field);
    } else {
      noteStatus.textContent = err.message;
      noteStatus.className = 'c-form-status c-err';
    }
  });

  noteDialog.addEventListener('close', () => {
    // Forget the patient's details as soon as the form closes.
    const done = noting;
    noting = null;
    noteForm.reset();
    for (const f of NOTE_FIELDS) {
      $(`ne-${f}`).textContent = '';
      $(`nf-${f}`)?.setAttribute('aria-invalid', 'false');
    }
    $('nh-birthdate').textContent = '';
    $('nh-name_kana').textContent = '';
    $('note-who').textContent = '';
    noteStatus.textContent = '';
    if (!done) return;
    if (done.message && done.onDone) done.onDone(done.message);
    done.returnFocus?.();
  });
  $('note-close').addEventListener('click', () => noteDialog.close());

  // ---------------------------------------------------------------- medical view

  const dialog = $('medical');
  const panel = $('medical-panel');
  const tabs = [...dialog.querySelectorAll('[role="tab"]')];
  // {person, consented: Set, cache: Map, tab, token}; an emergency view also has `url(cat)`
  // and `basis` (the consent ground as staff chose it).
  let med = null;

  function personOf(q) {
    const p = { insurer_number: q.insurer_number, number: q.number, birthdate: q.birthdate };
    if (q.symbol) p.symbol = q.symbol;
    if (q.branch) p.branch = q.branch;
    return p;
  }

  function openMedical(r) {
    const q = firstResult(r);
    if (!q) return;
    const consented = new Set(consentsOf(r).map((c) => c.category));
    med = { person: personOf(q), consented, cache: new Map(), tab: null, token: 0 };
    $('medical-who').textContent = `${q.name}（${readable(q.name_kana)}） ${fmtDate8(q.birthdate)}生`;
    const all = Array.isArray(r.answer && r.answer.consents) ? r.answer.consents : [];
    const expired = new Set(all.filter((c) => c && c.flag === '2').map((c) => c.category));
    for (const t of tabs) {
      const cat = t.dataset.tab;
      t.querySelector('.c-tab-mark')?.remove();
      if (!consented.has(cat)) {
        t.append(h('span', { class: 'c-tab-mark' }, expired.has(cat) ? '同意期限切れ' : '同意なし'));
      }
    }
    const first = MEDICAL_CATEGORIES.find((c) => consented.has(c)) || 'medications';
    if (typeof dialog.showModal === 'function') dialog.showModal();
    else dialog.setAttribute('open', '');
    selectTab(first, true);
  }

  function closeMedical() {
    if (dialog.open) dialog.close();
  }

  // 災害時: the same view, found without a card; every category may be asked (the central
  // logs each view with the emergency basis and the ground).
  function openEmergencyMedical(q, body, cat) {
    med = {
      person: body,
      url: (c) => `/console/emergency/medical/${c}`,
      basis: `閲覧の根拠: 災害時（${CONSENT_GROUND_LABELS[body.consent] || body.consent}）`,
      consented: new Set(MEDICAL_CATEGORIES),
      cache: new Map(),
      tab: null,
      token: 0,
    };
    $('medical-title').textContent = '診療・薬剤情報（災害時）';
    $('medical-who').textContent = `${q.name || ''}（${readable(q.name_kana)}） ${fmtDate8(q.birthdate)}生`;
    for (const t of tabs) t.querySelector('.c-tab-mark')?.remove();
    if (typeof dialog.showModal === 'function') dialog.showModal();
    else dialog.setAttribute('open', '');
    selectTab(MEDICAL_CATEGORIES.includes(cat) ? cat : 'medications', true);
  }

  dialog.addEventListener('close', () => {
    // Forget the person's data as soon as the view closes.
    med = null;
    panel.replaceChildren();
    $('medical-who').textContent = '';
    $('medical-title').textContent = '診療・薬剤情報';
  });
  $('medical-close').addEventListener('click', closeMedical);
  dialog.addEventListener('click', (e) => {
    // A click on the backdrop closes the dialog.
    if (e.target === dialog) closeMedical();
  });

  for (const t of tabs) {
    t.addEventListener('click', () => selectTab(t.dataset.tab, false));
    t.addEventListener('keydown', (e) => {
      const i = tabs.indexOf(t);
      let j = -1;
      if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
      else if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
      else if (e.key === 'Home') j = 0;
      else if (e.key === 'End') j = tabs.length - 1;
      if (j < 0) return;
      e.preventDefault();
      selectTab(tabs[j].dataset.tab, false);
      tabs[j].focus();
    });
  }

  async function selectTab(cat, focus) {
    if (!med) return;
    med.tab = cat;
    for (const t of tabs) {
      const on = t.dataset.tab === cat;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      if (on) panel.setAttribute('aria-labelledby', t.id);
    }
    if (focus) tabs.find((t) => t.dataset.tab === cat)?.focus();
    const cached = med.cache.get(cat);
    if (cached) {
      renderMedical(cat, cached);
      return;
    }
    panel.replaceChildren(h('div', { class: 'c-loading' }, '読み込み中…'));
    const token = ++med.token;
    const mine = med;
    const url = med.url ? med.url(cat) : `/console/medical/${cat}`;
    const res = await request('POST', url, med.person, { central: true });
    if (med !== mine || med.tab !== cat || med.token !== token) return; // closed or switched
    const result = res.ok && res.data ? { data: res.data } : { error: res.error || NETWORK_ERROR };
    if (res.ok || (res.status >= 400 && res.status < 500)) med.cache.set(cat, result);
    renderMedical(cat, result);
  }

  function renderMedical(cat, result) {
    if (result.error) {
      panel.replaceChildren(
        h(
          'p',
          { class: 'c-med-error', role: 'alert' },
          result.error.message,
          result.error.code ? h('small', null, result.error.code) : null,
        ),
      );
      return;
    }
    const d = result.data;
    const meta = h('div', { class: 'c-med-meta' });
    if (d.patient) {
      meta.append(
        h('span', null, `${d.patient.name}（${readable(d.patient.name_kana)}） ${fmtDate8(d.patient.birthdate)}生`),
      );
    }
    if (d.category_label) meta.append(h('strong', null, d.category_label));
    if (d.start_date || d.end_date) meta.append(h('span', null, `期間: ${fmtDate8(d.start_date)} 〜 ${fmtDate8(d.end_date)}`));
    if (med && med.basis) {
      meta.append(h('strong', { class: 'c-emergency-basis' }, med.basis));
    } else if (d.consent) {
      if (d.consent.consented_at) meta.append(h('span', null, `同意日時: ${fmtDateTime14(d.consent.consented_at)}`));
      meta.append(
        h('strong', null, `同意の有効期限: ${d.consent.available_until ? fmtDateTime14(d.consent.available_until) : DASH}`),
      );
    }
    let body;
    if (cat === 'medications') body = medicationsTable(Array.isArray(d.medications) ? d.medications : []);
    else if (cat === 'checkups') body = checkupBlocks(Array.isArray(d.checkups) ? d.checkups : []);
    else {
      const list = Array.isArray(d[cat]) ? d[cat] : Array.isArray(d.treatments) ? d.treatments : [];
      body = treatmentsTable(list);
    }
    panel.replaceChildren(meta, body);
  }

  function none() {
    return h('p', { class: 'c-none' }, '該当する情報はありません。');
  }

  function table(headers, rows) {
    return h(
      'table',
      { class: 'c-med-table' },
      h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows),
    );
  }

  // Sort key of a medication: its day, or its month.
  function medDay(m) {
    return isDate8(m.dispensed_on) ? m.dispensed_on : `${m.month || ''}00`;
  }

  function medicationsTable(list) {
    if (!list.length) return none();
    const sorted = [...list].sort((a, b) => (medDay(a) < medDay(b) ? 1 : medDay(a) > medDay(b) ? -1 : 0));
    const rows = sorted.map((m) => {
      const dose = [m.quantity, m.unit].filter((x) => x !== null && x !== undefined && x !== '').join('');
      return h(
        'tr',
        null,
        h(
          'td',
          { class: 'c-nowrap c-num' },
          isDate8(m.dispensed_on) ? fmtDate8(m.dispensed_on) : fmtMonth6(m.month),
        ),
        h(
          'td',
          null,
          m.institution_name || m.institution_code || DASH,
          h('span', { class: 'c-sub' }, CARE_KIND_LABELS[m.care_kind] || ''),
        ),
        h('td', { class: m.known === false ? 'c-unknown' : null }, m.drug_name || m.drug_code || DASH),
        h('td', { class: 'c-nowrap c-num' }, dose || DASH),
        h('td', { class: 'c-nowrap c-num' }, m.days_or_times ?? DASH),
      );
    });
    return table(['調剤日', '医療機関・薬局', '薬剤名', '用量', '日数・回数'], rows);
  }

  function lastDate(t) {
    const ds = Array.isArray(t.dates) ? t.dates.filter(isDate8) : [];
    return ds.length ? ds.reduce((a, b) => (a > b ? a : b)) : `${t.month || ''}00`;
  }

  function treatmentsTable(list) {
    if (!list.length) return none();
    const sorted = [...list].sort((a, b) => (lastDate(a) < lastDate(b) ? 1 : lastDate(a) > lastDate(b) ? -1 : 0));
    const rows = sorted.map((t) => {
      const ds = (Array.isArray(t.dates) ? t.dates.filter(isDate8) : []).sort().reverse();
      return h(
        'tr',
        null,
        h('td', { class: 'c-num' }, ds.length ? ds.map(fmtDate8).join(', ') : fmtMonth6(t.month)),
        h('td', null, t.institution_name || t.institution_code || DASH),
        h('td', { class: 'c-nowrap' }, t.kind_label || t.kind || DASH),
        h('td', { class: t.known === false ? 'c-unknown' : null }, t.name || t.code || DASH),
        h('td', { class: 'c-nowrap c-num' }, t.count ?? DASH),
      );
    });
    return table(['日付', '医療機関', '区分', '名称', '回数'], rows);
  }

  function checkupBlocks(list) {
    if (!list.length) return none();
    const sorted = [...list].sort((a, b) => (String(a.date) < String(b.date) ? 1 : String(a.date) > String(b.date) ? -1 : 0));
    const wrap = h('div');
    for (const c of sorted) {
      const items = Array.isArray(c.items) ? c.items : [];
      const rows = items.map((it) => {
        const flag = typeof it.interpretation === 'string' ? it.interpretation.toUpperCase() : '';
        const cls = flag === 'H' ? 'c-flag-h' : flag === 'L' ? 'c-flag-l' : null;
        return h(
          'tr',
          null,
          h('td', null, it.name || it.code || DASH),
          h('td', { class: `c-num ${cls || ''}`.trim() }, it.value ?? DASH, flag && flag !== 'N' ? ` (${flag})` : ''),
          h('td', null, it.unit || ''),
        );
      });
      wrap.append(
        h(
          'section',
          { class: 'c-checkup' },
          h('h3', null, `実施日 ${fmtDate8(c.date)}`, h('span', { class: 'c-sub' }, c.institution_name || c.institution_id || '')),
          rows.length ? table(['項目', '結果', '単位'], rows) : none(),
        ),
      );
    }
    return wrap;
  }

  // ---------------------------------------------------------------- 災害時モード

  // Offered only while the central says a declaration is in force for the clinic's area
  // (polled); otherwise nothing of it shows. The search names exactly one person or nobody:
  // several matches are refused without a list, and staff add attributes.
  const EMERGENCY_POLL_MS = 60000;
  const CONSENT_GROUND_LABELS = { verbal: '口頭で同意を得た', life_protection: '同意なし（生命保護のため）' };
  const EMERGENCY_MESSAGES = {
    multiple_matches:
      '該当する方が複数います（一覧は表示しません）。住所、または保険者番号・記号・番号など、ほかの情報も入力して、もう一度検索してください。',
    qualification_not_found:
      '該当する方が見つかりません。氏名・性別・生年月日（番号で探すときは保険者番号・記号・番号）の入力内容を確認してください。',
    emergency_not_declared:
      'この地域・期間には災害時モードが宣言されていません（期間が終了した可能性があります）。マイナンバーカードまたは保険証・資格確認書で確認してください。',
  };
  // The form's fields, in the order a first error takes the focus.
  const EMERGENCY_FIELDS = ['name', 'sex', 'address', 'insurer_number', 'symbol', 'number', 'branch', 'birthdate', 'consent'];
  const emergencyPanel = $('emergency-panel');
  const emergencyForm = $('emergency-form');
  const emergencyStatus = $('emergency-status');
  const emergencyResult = $('emergency-result');
  const emergencySubmit = $('emergency-submit');
  let declarations = []; // in force for this clinic's area, as last heard
  let emergencyBannerText = '';
  let emergencyLoading = false;
  let emergencyBusy = false;
  let emergencyJudged = false; // errors shown once a search was attempted

  // "2026-11-24T09:01:02+09:00" → "2026/11/24 09:01" (the central sends JST).
  function fmtRfc3339(at) {
    const m = typeof at === 'string' ? /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(at) : null;
    return m ? `${m[1]}/${m[2]}/${m[3]} ${m[4]}:${m[5]}` : at || DASH;
  }

  function inForce(d) {
    if (!d || typeof d !== 'object' || d.active === false) return false;
    const end = Date.parse(d.ends_at);
    return Number.isNaN(end) || end > Date.now();
  }

  function goEmergency() {
    // The side panels give way in the wide views: come back to 本日の受付.
    if ($('main').dataset.view !== 'receptions') showView('receptions', false);
    emergencyPanel.scrollIntoView({ block: 'nearest' });
    firstEmergencyInput().focus();
  }

  function firstEmergencyInput() {
    return emergencyBy() === 'numbers' ? $('ef-insurer_number') : $('ef-name');
  }

  function applyEmergency(list) {
    const was = declarations.length > 0;
    declarations = (Array.isArray(list) ? list : []).filter(inForce);
    const on = declarations.length > 0;
    emergencyPanel.hidden = !on;
    if (on) {
      const text = declarations.map((d) => `災害時モード（${d.reason}、${fmtRfc3339(d.ends_at)}まで）`).join(' ／ ');
      hideBanner('emergency-ended');
      // Updated only when it changes (a banner is announced each time it is rewritten).
      if (text !== emergencyBannerText) {
        emergencyBannerText = text;
        showBanner(
          'emergency',
          [
            h('strong', { class: 'c-banner-head' }, text),
            h(
              'span',
              { class: 'c-banner-sub' },
              'マイナンバーカードや保険証がない方も「災害時の検索（カードなし）」で資格と診療・薬剤情報を確認できます。',
            ),
          ],
          {
            tone: 'emergency',
            closable: false,
            actions: [h('button', { type: 'button', class: 'c-btn', id: 'emergency-go', onclick: goEmergency }, '災害時の検索へ')],
          },
        );
      }
      return;
    }
    emergencyBannerText = '';
    hideBanner('emergency');
    if (was) {
      // Forget whoever was searched, and close a view opened on the emergency basis.
      clearEmergency();
      if (med && med.url) closeMedical();
      showBanner(
        'emergency-ended',
        '災害時モードの期間が終了しました。マイナンバーカードまたは保険証・資格確認書で確認してください。',
        { tone: 'warn' },
      );
    }
  }

  async function loadEmergency() {
    if (emergencyLoading) return;
    emergencyLoading = true;
    const res = await request('GET', '/console/emergency', undefined, { quiet: true });
    emergencyLoading = false;
    // Not heard (e.g. the central is unreachable): what was known holds until its end.
    applyEmergency(res.ok && Array.isArray(res.data) ? res.data : declarations);
  }

  function emergencyBy() {
    return emergencyForm.elements.namedItem('by').value === 'numbers' ? 'numbers' : 'attributes';
  }

  function syncEmergencyBy() {
    const numbers = emergencyBy() === 'numbers';
    $('emergency-attributes').hidden = numbers;
    $('emergency-numbers').hidden = !numbers;
  }

  // The request as typed: {by, numbers (raw, for checking), body: EmergencyRequest}.
  function readEmergency() {
    const el = emergencyForm.elements;
    const by = emergencyBy();
    const numbers = readNumbers(emergencyForm);
    let person;
    if (by === 'numbers') {
      person = numbersBody(numbers);
    } else {
      person = {
        name: el.namedItem('name').value.trim(),
        sex: el.namedItem('sex').value,
        birthdate: numbers.birthdate,
      };
      const address = el.namedItem('address').value.trim();
      if (address) person.address = address;
    }
    return { by, numbers, body: { person, consent: el.namedItem('consent').value } };
  }

  function emergencyErrors(r) {
    const p = r.body.person;
    let errors = {};
    if (r.by === 'numbers') {
      errors = validateNumbers(r.numbers);
    } else {
      if (!p.name) errors.name = '氏名を入力してください。';
      else if ([...p.name].length > 100 || CONTROL_CHARS.test(p.name)) errors.name = '氏名は100文字以内で入力してください（改行などは使えません）。';
      if (!['1', '2', '3'].includes(p.sex)) errors.sex = '性別を選んでください。';
      if (p.address && ([...p.address].length > 200 || CONTROL_CHARS.test(p.address))) {
        errors.address = '住所は200文字以内で入力してください（改行などは使えません）。';
      }
      const birth = birthdateError(p.birthdate);
      if (birth) errors.birthdate = birth;
    }
    if (!CONSENT_GROUND_LABELS[r.body.consent]) {
      errors.consent = '同意の種類を選んでください（「口頭で同意を得た」または「同意なし（生命保護のため）」）。';
    }
    return errors;
  }

  // The field (input, or the fieldset of a radio group) that shows a field's state.
  function emergencyField(f) {
    const el = emergencyForm.elements.namedItem(f);
    return el instanceof RadioNodeList ? el[0]?.closest('fieldset') : el;
  }

  function showEmergencyErrors(errors) {
    for (const f of EMERGENCY_FIELDS) {
      const msg = errors[f] || '';
      $(`ee-${f}`).textContent = msg;
      emergencyField(f)?.setAttribute('aria-invalid', msg ? 'true' : 'false');
    }
  }

  function refreshEmergency() {
    const r = readEmergency();
    const errors = emergencyErrors(r);
    $('eh-birthdate').textContent = birthdateError(r.numbers.birthdate) ? '' : birthdateReading(r.numbers.birthdate);
    if (emergencyJudged) showEmergencyErrors(errors);
    return { r, errors };
  }

  function clearEmergency() {
    emergencyForm.reset();
    emergencyJudged = false;
    showEmergencyErrors({});
    syncEmergencyBy();
    $('eh-birthdate').textContent = '';
    emergencyStatus.textContent = '';
    emergencyStatus.className = 'c-form-status';
    emergencyResult.replaceChildren();
    emergencyResult.hidden = true;
  }

  // The answer, as the number check shows its reception: who, the validity, the insurance and
  // co-pay; then the medical views on the emergency basis.
  function showEmergencyResult(ans, body) {
    const results = Array.isArray(ans.results) ? ans.results : [];
    const q = results[0] || null;
    const today = todayJst();
    const parts = [];
    if (q) {
      const age = ageOn(q.birthdate, today);
      parts.push(
        h(
          'div',
          null,
          h('span', { class: 'c-name' }, q.name || DASH),
          h('span', { class: 'c-sub' }, readable(q.name_kana)),
        ),
      );
      parts.push(
        h(
          'dl',
          null,
          h('dt', null, '生年月日'),
          h(
            'dd',
            { class: 'c-num' },
            `${fmtDate8(q.birthdate)} ${[eraLabel(q.birthdate), age !== null ? `${age}歳` : ''].filter(Boolean).join(' ')}`,
          ),
          h('dt', null, '資格有効性'),
          h('dd', null, h('span', { class: `c-badge ${validityClass(ans.validity)}` }, ans.validity_label || ans.validity || DASH)),
          h('dt', null, '保険者'),
          h(
            'dd',
            null,
            q.insurer_name || DASH,
            h(
              'span',
              { class: 'c-sub c-num' },
              [q.insurer_number, q.relationship === '1' ? '本人' : q.relationship === '2' ? '家族' : ''].filter(Boolean).join(' '),
            ),
          ),
          h('dt', null, '記号・番号'),
          h('dd', { class: 'c-num' }, [q.symbol, q.number].filter(Boolean).join('・') + (q.branch ? `（枝番 ${q.branch}）` : '') || DASH),
          h('dt', null, '負担割合'),
          h('dd', null, copayLabel(q.copay_ratio), q.preschool === '1' ? '（未就学）' : ''),
          limitOf(q) ? h('dt', null, '限度額') : null,
          limitOf(q)
            ? h('dd', null, limitOf(q).bracket_label || [limitOf(q).classification, limitOf(q).bracket].filter(Boolean).join('/') || DASH)
            : null,
        ),
      );
      if (results.length > 1) parts.push(h('span', { class: 'c-sub' }, `ほかに${results.length - 1}件の資格があります。`));
    } else {
      parts.push(h('span', { class: `c-badge ${validityClass(ans.validity)}` }, ans.validity_label || ans.validity || DASH));
    }
    if (ans.processing_result && ans.processing_result.status === '2' && ans.processing_result.message) {
      parts.push(h('span', { class: 'c-badge c-v-bad c-wrap' }, ans.processing_result.message));
    }
    parts.push(h('span', { class: 'c-emergency-basis' }, `災害時の確認（${CONSENT_GROUND_LABELS[body.consent]}）。本人に通知されます。`));
    if (q) {
      parts.push(
        h(
          'div',
          { class: 'c-row-actions' },
          MEDICAL_CATEGORIES.map((cat) =>
            h(
              'button',
              {
                type: 'button',
                class: 'c-btn c-small',
                'data-action': 'emergency-medical',
                'data-category': cat,
                onclick: () => openEmergencyMedical(q, body, cat),
              },
              `${CONSENT_LABELS[cat]}情報を見る`,
            ),
          ),
        ),
      );
    }
    emergencyResult.replaceChildren(...parts);
    emergencyResult.hidden = false;
  }

  emergencyForm.addEventListener('change', (e) => {
    if (e.target && e.target.name === 'by') {
      syncEmergencyBy();
      firstEmergencyInput().focus();
    }
    refreshEmergency();
  });
  emergencyForm.addEventListener('input', () => refreshEmergency());
  emergencyForm.addEventListener(
    'blur',
    (e) => {
      // The birth date read back as 8 digits once it is one.
      if (e.target && e.target.name === 'birthdate') {
        const d = normalizeBirthdate(e.target.value);
        if (/^\d{8}$/.test(d)) e.target.value = d;
        refreshEmergency();
      }
    },
    true,
  );
  $('emergency-clear').addEventListener('click', () => {
    clearEmergency();
    firstEmergencyInput().focus();
  });

  emergencyForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (emergencyBusy) return;
    emergencyJudged = true;
    const { r, errors } = refreshEmergency();
    const wrong = EMERGENCY_FIELDS.find((f) => errors[f]);
    if (wrong) {
      const el = emergencyField(wrong);
      (el && el.tagName === 'FIELDSET' ? el.querySelector('input') : el)?.focus();
      return;
    }
    const body = r.body;
    emergencyBusy = true;
    emergencySubmit.disabled = true;
    emergencyResult.hidden = true;
    emergencyResult.replaceChildren();
    emergencyStatus.textContent = '検索中…';
    emergencyStatus.className = 'c-form-status';
    const res = await request('POST', '/console/emergency/check', body, { central: true });
    emergencyBusy = false;
    emergencySubmit.disabled = false;
    if (res.ok && res.data) {
      const q = (Array.isArray(res.data.results) ? res.data.results : [])[0];
      emergencyStatus.textContent = `確認しました: ${q ? `${q.name} ` : ''}${res.data.validity_label || ''}`;
      showEmergencyResult(res.data, body);
      return;
    }
    const err = res.error || NETWORK_ERROR;
    // A field the central named (`person.name` …) shows its message there too.
    const field = typeof err.field === 'string' ? err.field.replace(/^person\./, '') : '';
    if (EMERGENCY_FIELDS.includes(field)) showEmergencyErrors({ [field]: err.message });
    emergencyStatus.textContent = EMERGENCY_MESSAGES[err.code] || err.message;
    emergencyStatus.className = 'c-form-status c-err';
    if (err.code === 'emergency_not_declared') loadEmergency();
  });

  // ---------------------------------------------------------------- virtual card reader

  const readerPanel = $('reader-panel');
  const readerSelect = $('reader-select');
  const readerStatus = $('reader-status');
  let cardsBusy = false;
  let loadedCards = false;

  async function refreshCards() {
    const res = await request('GET', '/console/cards');
    if (res.status === 404 || (!res.ok && !loadedCards)) {
      // A real PC/SC reader (or no reader): nothing to simulate.
      readerPanel.hidden = true;
      return;
    }
    if (!res.ok || !res.data) return;
    loadedCards = true;
    readerPanel.hidden = false;
    const cards = Array.isArray(res.data.cards) ? res.data.cards : [];
    const inserted = res.data.inserted ?? null;
    const keep = readerSelect.value;
    readerSelect.replaceChildren(...cards.map((c) => h('option', { value: c }, c)));
    if (inserted && cards.includes(inserted)) readerSelect.value = inserted;
    else if (keep && cards.includes(keep)) readerSelect.value = keep;
    readerStatus.textContent = inserted ? `挿入中: ${inserted}` : 'カードは入っていません。';
    $('reader-insert').disabled = cardsBusy || cards.length === 0;
    $('reader-remove').disabled = cardsBusy || !inserted;
  }
  async function cardAction(action) {
    if (cardsBusy) return;
    cardsBusy = true;
    $('reader-insert').disabled = true;
    $('reader-remove').disabled = true;
    const res =
      action === 'card-insert'
        ? await request('POST', '/console/cards/insert', { card: readerSelect.value })
        : await request('POST', '/console/cards/remove', {});
    cardsBusy = false;
    await refreshCards();
    if (!res.ok) readerStatus.textContent = res.error.message;
  }

  $('reader-insert').addEventListener('click', () => cardAction('card-insert'));
  $('reader-remove').addEventListener('click', () => cardAction('card-remove'));

  // ---------------------------------------------------------------- start

  tickClock();
  setInterval(tickClock, 15000);
  checkForm.refresh();
  refNumbers.refresh();
  resetBatchForm();

  loadReceptions();
  loadOffline();
  stream(
    '/console/events',
    (r) => {
      upsert(r, true);
      if (r && r.offline) loadOffline(); // a visit of the outage was just checked
    },
    (up, recovered) => {
      setConn(up);
      if (up && recovered) loadReceptions(); // catch up on what was missed
    },
  );

  refreshKiosk();
  stream('/kiosk/events', applyKiosk, (up, recovered) => {
    if (up && recovered) refreshKiosk();
  });

  refreshCards();
  loadEmergency();
  setInterval(loadEmergency, EMERGENCY_POLL_MS);
})();
