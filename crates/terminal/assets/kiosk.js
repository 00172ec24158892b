// Patient kiosk of the clinic terminal (screens ①–⑥).
//
// The server owns the flow: it publishes the screen to show (GET /kiosk/state and the
// Server-Sent Events of /kiosk/events) and takes the patient's taps (POST /kiosk/action).
// This page only draws the current screen and forwards taps and keys, always with the
// `seq` of the screen on display so that stale or doubled taps are ignored by the server.
'use strict';

(() => {
  const PIN_DIGITS = 4;
  // After a tap, buttons stay disabled until the next state; if none comes (the server
  // ignored the action), re-read the state after this long.
  const ACTION_TIMEOUT_MS = 2500;
  // PIN taps and keys made while the previous one is in flight are queued, not dropped
  // (a PIN may well repeat a digit: 1122).
  const MAX_QUEUED_KEYS = 8;

  const root = document.getElementById('screen');
  const announce = document.getElementById('announce');

  let current = null; // the state on display ({seq, screen, ...})
  let currentKey = ''; // its JSON without seq, to detect real changes
  let busy = false; // an action was sent for `current` and no new state came yet
  let busyTimer = 0;
  let focusedBeforeLock = null; // data-action of the button focused when a tap was sent
  const keyQueue = []; // pending PIN pad actions (tapped or typed faster than round trips)

  // ---------------------------------------------------------------- DOM helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function screenRoot(name, ...children) {
    return h('section', { class: 'screen', 'data-screen': name }, ...children);
  }

  function title(text) {
    return h('h1', { class: 'k-title msg', tabindex: '-1' }, text);
  }

  function text(t, cls = 'k-text') {
    return h('p', { class: `${cls} msg` }, t);
  }

  // A kiosk button. `kind` is 'primary', 'quiet' or ''. `role` marks the button Enter
  // ('primary') or Escape ('escape') presses.
  function button(label, action, kind = '', role = '') {
    return h(
      'button',
      {
        type: 'button',
        class: `k-btn${kind ? ` k-${kind}` : ''}`,
        'data-action': action,
        'data-primary': role === 'primary',
        'data-escape': role === 'escape',
      },
      label,
    );
  }

  function spinner() {
    return h('div', { class: 'k-spinner', role: 'img', 'aria-label': '処理中' });
  }

  // ① A card being laid on a reader, drawn inline (static markup, no data).
  function cardIllustration() {
    const tpl = document.createElement('template');
    tpl.innerHTML = `
<svg class="k-illust" viewBox="0 0 400 300" role="img" aria-label="カードリーダーにマイナンバーカードを置く図">
  <rect x="40" y="170" width="320" height="110" rx="22" fill="#2b2f36"/>
  <rect x="70" y="186" width="260" height="62" rx="10" fill="#4a515c"/>
  <circle cx="330" cy="264" r="7" fill="#3ee07a"/>
  <g class="k-card-move">
    <rect x="95" y="100" width="210" height="132" rx="14" fill="#f4f7fb" stroke="#003a8c" stroke-width="6"/>
    <rect x="115" y="122" width="52" height="64" rx="6" fill="#c7d3e8"/>
    <circle cx="141" cy="145" r="12" fill="#8799bb"/>
    <path d="M121 182 q20 -22 40 0" fill="#8799bb"/>
    <rect x="182" y="128" width="100" height="12" rx="5" fill="#9aa8bf"/>
    <rect x="182" y="152" width="80" height="12" rx="5" fill="#9aa8bf"/>
    <rect x="182" y="176" width="92" height="12" rx="5" fill="#9aa8bf"/>
    <rect x="115" y="200" width="36" height="22" rx="4" fill="#d9b44a"/>
  </g>
  <path d="M200 14 v52" stroke="#003a8c" stroke-width="12" stroke-linecap="round"/>
  <path d="M172 46 l28 30 l28 -30" fill="none" stroke="#003a8c" stroke-width="12"
        stroke-linecap="round" stroke-linejoin="round"/>
</svg>`;
    return tpl.content.firstElementChild;
  }

  // ---------------------------------------------------------------- screens

  const CALL_STAFF = '受付にお声かけください。';

  const SCREENS = {
    waiting_for_card: () =>
      screenRoot('waiting_for_card', title('マイナンバーカードを置いてください'), cardIllustration()),

    working: () => screenRoot('working', title('お待ちください'), spinner()),

    choose_method: (s) =>
      screenRoot(
        'choose_method',
        title('本人確認の方法を選んでください'),
        s.face_failed
          ? text('顔認証ができませんでした。暗証番号の入力、または係員による確認をお選びください。', 'k-warn')
          : null,
        h(
          'div',
          { class: 'k-buttons' },
          s.face ? button('顔認証を行う', 'choose-face', 'primary', 'primary') : null,
          button('暗証番号を入力', 'choose-pin', 'primary', s.face ? '' : 'primary'),
          s.visual ? button('係員が確認（目視）', 'choose-visual', 'primary') : null,
          button('終了する', 'quit', 'quiet', 'escape'),
        ),
        text('本人確認の情報は、他の目的には使用しません。', 'k-small'),
      ),

    face_capture: (s) =>
      screenRoot(
        'face_capture',
        title('カメラに顔を向けてください'),
        text(s.attempt > 1 ? 'もう一度撮影して照合しています。' : 'カードの顔写真と照合しています。'),
        spinner(),
        text(
          '撮影した画像は、この場でカードの顔写真と照合するためだけに使います。保存も送信もせず、照合が終わるとすぐに消去します。',
          'k-small',
        ),
      ),

    face_retry: (s) =>
      screenRoot(
        'face_retry',
        title(s.no_face ? '顔を確認できませんでした。' : '顔写真と一致しませんでした。'),
        text('マスクや帽子を外し、カメラの正面でもう一度お試しください。'),
        h(
          'div',
          { class: 'k-buttons' },
          button('もう一度撮影する', 'choose-face', 'primary', 'primary'),
          button('暗証番号を入力', 'choose-pin', 'primary'),
          s.visual ? button('係員が確認（目視）', 'choose-visual', 'primary') : null,
          button('終了する', 'quit', 'quiet', 'escape'),
        ),
        text('撮影した画像は照合後すぐに消去しています。', 'k-small'),
      ),

    pin: (s) => {
      const pad = h('div', { class: 'k-pad', role: 'group', 'aria-label': '暗証番号の入力' });
      for (const d of [1, 2, 3, 4, 5, 6, 7, 8, 9]) pad.append(button(String(d), `digit-${d}`));
      pad.append(
        withClass(button('削除', 'backspace', 'quiet'), 'k-fn'),
        button('0', 'digit-0'),
        withClass(button('キャンセル', 'quit', 'quiet', 'escape'), 'k-fn'),
      );
      return screenRoot(
        'pin',
        title('暗証番号（数字4桁）を入力してください'),
        pinDots(s.entered),
        h('div', { class: 'k-pin-msgs', 'data-pin-messages': true }, pinMessages(s)),
        pad,
      );
    },

    waiting_for_staff: () =>
      screenRoot(
        'waiting_for_staff',
        title('係員が確認します。'),
        text('しばらくお待ちください。'),
        spinner(),
      ),

    consent_medical: () =>
      consentScreen('consent_medical', '過去の診療・お薬情報を当機関に提供することに同意しますか。'),

    consent_checkups: () =>
      consentScreen('consent_checkups', '過去の健診情報を当機関に提供することに同意しますか。'),

    done: (s) =>
      screenRoot(
        'done',
        h('p', { class: 'k-name msg' }, `${s.name ?? ''} 様`),
        title('確認が完了しました。'),
        text('終了する場合は、マイナンバーカードを取り出し、待合室でお待ちください。'),
        h(
          'div',
          { class: 'k-buttons' },
          button('高額療養費制度を利用する方はこちら', 'want-limit', 'quiet'),
        ),
      ),

    consent_limit: () =>
      screenRoot(
        'consent_limit',
        title('限度額情報を提供しますか。'),
        h(
          'div',
          { class: 'k-buttons k-row' },
          button('提供する', 'yes', 'primary', 'primary'),
          button('提供しない', 'no', 'primary'),
        ),
      ),

    finished: (s) =>
      screenRoot(
        'finished',
        s.name ? h('p', { class: 'k-name msg' }, `${s.name} 様`) : null,
        title('完了しました。'),
        text('マイナンバーカードを取り出し、待合室でお待ちください。'),
      ),

    locked: () =>
      screenRoot(
        'locked',
        title('暗証番号がロックされています。'),
        text('お住まいの市区町村の窓口で暗証番号の再設定を行ってください。'),
        text(CALL_STAFF, 'k-alert'),
      ),

    card_error: () =>
      screenRoot(
        'card_error',
        title('カードを読み取れませんでした。'),
        text('カードを置き直してください。'),
        text('マイナンバーカード以外のカードは使えません。', 'k-sub'),
      ),

    certificate_invalid: (s) =>
      screenRoot(
        'certificate_invalid',
        title(
          s.reason === 'expired'
            ? 'カードの電子証明書の有効期限が切れています。'
            : 'このマイナンバーカードは現在ご利用いただけません。',
        ),
        text('お住まいの市区町村の窓口にお問い合わせください。'),
        text(CALL_STAFF, 'k-alert'),
      ),

    registration_prompt: () =>
      screenRoot(
        'registration_prompt',
        title('このマイナンバーカードは健康保険証としての利用登録がされていません。'),
        text(CALL_STAFF, 'k-alert'),
      ),

    central_unavailable: () =>
      screenRoot(
        'central_unavailable',
        title('ただいま資格確認ができません。'),
        text(CALL_STAFF, 'k-alert'),
      ),

    recorded_offline: () =>
      screenRoot(
        'recorded_offline',
        title('受付を記録しました。'),
        text('通信障害のため、保険の資格はあとで確認します。'),
        text('マイナンバーカードを取り出し、受付にお声かけください。', 'k-alert'),
      ),

    cancelled: () => screenRoot('cancelled', title('カードを取り出してください。')),
  };

  // A screen the page does not know (a newer server): never leave the patient stuck.
  function unknownScreen(s) {
    return screenRoot(String(s.screen), title(CALL_STAFF));
  }

  function withClass(el, cls) {
    el.classList.add(cls);
    return el;
  }

  function consentScreen(name, question) {
    return screenRoot(
      name,
      title(question),
      text('この情報はあなたの診察や健康管理のために使用します。', 'k-sub'),
      h(
        'div',
        { class: 'k-buttons k-row' },
        button('同意する', 'yes', 'primary', 'primary'),
        button('同意しない', 'no', 'primary'),
      ),
    );
  }

  function pinDots(entered) {
    const n = clampEntered(entered);
    const dots = h('div', {
      class: 'k-dots',
      'data-pin-dots': true,
      role: 'img',
      'aria-label': `${n}桁入力済み`,
    });
    for (let i = 0; i < PIN_DIGITS; i++) dots.append(h('span', { class: i < n ? 'filled' : null }));
    return dots;
  }

  function clampEntered(entered) {
    const n = Number(entered) || 0;
    return Math.max(0, Math.min(PIN_DIGITS, n));
  }

  function pinMessages(s) {
    const out = [];
    if (s.wrong) out.push(h('p', { class: 'k-warn msg' }, '暗証番号が違います。'));
    if (s.tries_left !== null && s.tries_left !== undefined) {
      const n = Number(s.tries_left);
      out.push(
        h(
          'p',
          { class: `k-warn msg${n <= 1 ? ' k-last' : ''}` },
          `あと${n}回間違えるとロックされます。`,
        ),
      );
    }
    return out;
  }

  // ---------------------------------------------------------------- rendering

  function stateKey(s) {
    const { seq, ...rest } = s;
    return JSON.stringify(rest);
  }

  // `trusted`: the state is known to be the server's latest (from the ordered stream, or
  // read right after a reconnection, when the server may have restarted its seq).
  function apply(state, trusted) {
    if (!state || typeof state !== 'object' || typeof state.screen !== 'string') return;
    // A polled answer may arrive after a newer streamed one: keep the newest.
    if (!trusted && current && typeof state.seq === 'number' && state.seq < current.seq) {
      unlock();
      return;
    }
    const key = stateKey(state);
    const sameScreen = current !== null && current.screen === state.screen;
    const sameContent = current !== null && key === currentKey;
    const changed = !sameContent || state.seq !== current.seq;
    current = state;
    currentKey = key;

    if (!changed) {
      unlock();
      return;
    }
    if (!sameScreen) keyQueue.length = 0;

    if (sameScreen && state.screen === 'pin') {
      updatePin(state);
    } else if (!sameContent) {
      render(state, sameScreen);
    }
    // Same content under a new seq: only the seq to send changes.
    unlock();
    flushKeyQueue();
  }

  function render(state, sameScreen) {
    const focusedAction = focusedButtonAction() || focusedBeforeLock;
    const build = SCREENS[state.screen] || unknownScreen;
    const view = build(state);
    root.replaceChildren(view);
    announceScreen(view);
    // Keep keyboard focus on the same button across updates of one screen; otherwise
    // start at the heading so that Enter presses the primary button.
    const again = sameScreen && focusedAction ? view.querySelector(`[data-action="${focusedAction}"]`) : null;
    (again || view.querySelector('h1'))?.focus({ preventScroll: true });
  }

  function updatePin(state) {
    const view = root.querySelector('[data-screen="pin"]');
    if (!view) {
      render(state, false);
      return;
    }
    view.querySelector('[data-pin-dots]').replaceWith(pinDots(state.entered));
    const msgs = view.querySelector('[data-pin-messages]');
    const list = pinMessages(state);
    msgs.replaceChildren(...list);
    if (list.length) announce.textContent = list.map((p) => p.textContent).join(' ');
    else announce.textContent = `${clampEntered(state.entered)}桁入力済み`;
  }

  function announceScreen(view) {
    const parts = [...view.querySelectorAll('.msg')].map((el) => el.textContent.trim());
    announce.textContent = parts.filter(Boolean).join(' ');
  }

  function focusedButtonAction() {
    const el = document.activeElement;
    return el && root.contains(el) && el.dataset ? el.dataset.action || null : null;
  }

  // ---------------------------------------------------------------- actions

  function bodyFor(action) {
    if (action === 'choose-pin') return { action: 'choose', method: 'pin' };
    if (action === 'choose-face') return { action: 'choose', method: 'face' };
    if (action === 'choose-visual') return { action: 'choose', method: 'visual' };
    if (action === 'quit') return { action: 'quit' };
    if (action === 'backspace') return { action: 'backspace' };
    if (action === 'yes') return { action: 'answer', yes: true };
    if (action === 'no') return { action: 'answer', yes: false };
    if (action === 'want-limit') return { action: 'want_limit' };
    const m = /^digit-([0-9])$/.exec(action);
    if (m) return { action: 'digit', digit: Number(m[1]) };
    return null;
  }

  function lock() {
    busy = true;
    // Remember the focused button before disabling it drops the focus.
    focusedBeforeLock = focusedButtonAction();
    // The PIN pad stays live: its taps are queued and sent one per screen update.
    // Every other screen's buttons are disabled until the next state.
    if (!current || current.screen !== 'pin') {
      for (const b of root.querySelectorAll('button')) b.disabled = true;
    }
    clearTimeout(busyTimer);
    busyTimer = setTimeout(() => {
      // No new state arrived: the server ignored the tap or the stream is down.
      refresh().finally(() => {
        if (busy) unlock();
      });
    }, ACTION_TIMEOUT_MS);
  }

  function unlock() {
    clearTimeout(busyTimer);
    const wasBusy = busy;
    busy = false;
    for (const b of root.querySelectorAll('button')) b.disabled = false;
    if (wasBusy && focusedBeforeLock && (!document.activeElement || document.activeElement === document.body)) {
      root.querySelector(`[data-action="${focusedBeforeLock}"]`)?.focus({ preventScroll: true });
    }
    focusedBeforeLock = null;
  }

  async function send(action) {
    const body = bodyFor(action);
    if (!body || !current || busy) return;
    lock();
    try {
      const res = await fetch('/kiosk/action', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ seq: current.seq, ...body }),
        cache: 'no-store',
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      // Success: the new screen arrives through the event stream.
    } catch {
      // Keep the screen; let the patient try again shortly.
      keyQueue.length = 0;
      setTimeout(() => {
        if (busy) refresh().finally(() => busy && unlock());
      }, 600);
    }
  }

  function press(action) {
    if (!current) return;
    const btn = root.querySelector(`[data-action="${action}"]`);
    if (!btn) return;
    if (busy) {
      // Ahead on the PIN pad: send once the previous action is acknowledged.
      if (current.screen === 'pin') {
        if (action === 'quit') {
          keyQueue.length = 0;
          keyQueue.push(action);
        } else if (/^(digit-\d|backspace)$/.test(action) && keyQueue.length < MAX_QUEUED_KEYS) {
          keyQueue.push(action);
        }
      }
      return;
    }
    if (btn.disabled) return;
    send(action);
  }

  function flushKeyQueue() {
    if (busy || !keyQueue.length) return;
    if (!current || current.screen !== 'pin') {
      keyQueue.length = 0;
      return;
    }
    const next = keyQueue.shift();
    if (root.querySelector(`[data-action="${next}"]`)) send(next);
    else keyQueue.length = 0;
  }

  root.addEventListener('click', (e) => {
    const btn = e.target instanceof Element ? e.target.closest('button[data-action]') : null;
    if (!btn || btn.disabled || !root.contains(btn)) return;
    press(btn.dataset.action);
  });

  document.addEventListener('keydown', (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || !current) return;
    const onPin = current.screen === 'pin';
    if (/^[0-9]$/.test(e.key)) {
      if (onPin) {
        e.preventDefault();
        press(`digit-${e.key}`);
      }
    } else if (e.key === 'Backspace') {
      e.preventDefault(); // never navigate back
      if (onPin) press('backspace');
    } else if (e.key === 'Enter') {
      // Enter on a focused button activates that button (native behaviour);
      // elsewhere it presses the screen's primary button.
      const el = document.activeElement;
      if (el && el.tagName === 'BUTTON' && root.contains(el)) return;
      e.preventDefault();
      const primary = root.querySelector('button[data-primary]');
      if (primary) press(primary.dataset.action);
    } else if (e.key === 'Escape') {
      const esc = root.querySelector('button[data-escape]');
      if (esc) {
        e.preventDefault();
        press(esc.dataset.action);
      }
    }
  });

  // Touch kiosks: no context menu, no accidental text selection or zoom gestures.
  document.addEventListener('contextmenu', (e) => e.preventDefault());

  // ---------------------------------------------------------------- server state

  async function refresh(trusted = false) {
    try {
      const res = await fetch('/kiosk/state', { cache: 'no-store' });
      if (!res.ok) return;
      apply(await res.json(), trusted);
    } catch {
      // Keep the last screen; the stream reconnects by itself.
    }
  }

  function connect() {
    if (!('EventSource' in window)) {
      setInterval(refresh, 1000);
      return;
    }
    const es = new EventSource('/kiosk/events');
    let hadError = false;
    es.onmessage = (ev) => {
      let state;
      try {
        state = JSON.parse(ev.data);
      } catch {
        return;
      }
      apply(state, true);
    };
    es.onopen = () => {
      // After a reconnection, catch up on anything missed.
      if (hadError) refresh(true);
      hadError = false;
    };
    es.onerror = () => {
      // EventSource retries by itself; nothing is shown to the patient.
      hadError = true;
    };
  }

  refresh();
  connect();
})();
