//! The pages: each GET asks the central and renders; each POST relays a form and redirects
//! (POST-redirect-GET), or shows the form again with the central's message when refused.

use crate::charts::{stacked_bars, Bar};
use crate::html::{esc, month_label, notice, page, percent, respond, thousands, when};
use crate::Ops;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kakunin_api::client::ClientError;
use kakunin_api::{
    DeclarationRecord, DeclarationRequest, DismissLinkReviewRequest, InstitutionRecord,
    InstitutionRequest, KindUsage, UsageFigures, UsageStatistics,
};
use kakunin_domain::Timestamp;
use serde::Deserialize;
use std::fmt::Write;

const STYLE: &str = include_str!("../assets/style.css");

pub async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

pub async fn not_found(State(ops): State<Ops>) -> Response {
    respond(
        StatusCode::NOT_FOUND,
        page(
            "",
            "ページがありません",
            &ops.central_url,
            &notice(
                false,
                "該当するページがありません。上のメニューから選んでください。",
            ),
        ),
    )
}

pub(crate) fn now() -> Timestamp {
    Timestamp::from_unix_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    )
}

/// What to tell the operator when the central refused or could not be reached, and the
/// status to answer with.
pub(crate) fn central_failure(e: &ClientError) -> (StatusCode, String) {
    match e {
        ClientError::Api(api, 401 | 403) => (
            StatusCode::BAD_GATEWAY,
            format!(
                "中央システムが運用コンソールの証明書を受け付けません: {}（運用者の証明書で起動してください）",
                api.message
            ),
        ),
        ClientError::Api(api, status) => (
            StatusCode::from_u16(*status)
                .ok()
                .filter(|s| s.is_client_error())
                .unwrap_or(StatusCode::BAD_GATEWAY),
            api.message.clone(),
        ),
        ClientError::Transport(_) => (
            StatusCode::BAD_GATEWAY,
            "中央システムに接続できません。しばらくしてから再度お試しください。".into(),
        ),
        other => {
            tracing::warn!(error = %other, "unexpected answer from the central");
            (
                StatusCode::BAD_GATEWAY,
                "中央システムから想定外の応答がありました。".into(),
            )
        }
    }
}

/// A page that could not be shown: the frame with the reason.
pub(crate) fn failed(ops: &Ops, current: &str, title: &str, e: &ClientError) -> Response {
    let (status, message) = central_failure(e);
    respond(
        status,
        page(current, title, &ops.central_url, &notice(false, &message)),
    )
}

/// A fixed message for a `done` code after a redirect (unknown codes show nothing).
pub(crate) fn done_notice(done: Option<&str>) -> String {
    let text = match done {
        Some("dismissed") => "確認依頼を紐付けせずに閉じました。",
        Some("declared") => "災害時モードを宣言しました。",
        Some("ended") => "災害時モードを終了しました。",
        Some("registered") => "医療機関を登録しました。",
        Some("revoked") => {
            "証明書を失効させました。すべての中央システムで数秒以内に使えなくなります。"
        }
        _ => return String::new(),
    };
    notice(true, text)
}

pub(crate) fn form<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}

pub(crate) fn bad_form(ops: &Ops) -> Response {
    respond(
        StatusCode::BAD_REQUEST,
        page(
            "",
            "送信内容を読み取れません",
            &ops.central_url,
            &notice(
                false,
                "送信内容を読み取れません。画面を開き直してください。",
            ),
        ),
    )
}

// --- 利用状況 ---

#[derive(Debug, Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

/// `yyyy-MM` for a month input from `yyyyMM`.
fn picker_value(code: &str) -> String {
    match (code.get(..4), code.get(4..6)) {
        (Some(y), Some(m)) => format!("{y}-{m}"),
        _ => String::new(),
    }
}

/// `yyyyMM` of the month before or after.
fn step_month(code: &str, forward: bool) -> Option<String> {
    let y: u32 = code.get(..4)?.parse().ok()?;
    let m: u32 = code.get(4..6)?.parse().ok()?;
    let (y, m) = match (forward, m) {
        (true, 12) => (y + 1, 1),
        (true, m) => (y, m + 1),
        (false, 1) => (y.checked_sub(1)?, 12),
        (false, m) => (y, m - 1),
    };
    Some(format!("{y:04}{m:02}"))
}

fn month_form(value: &str, current: &str) -> String {
    format!(
        "<form method=\"get\" action=\"/statistics\" class=\"inline\">\
         <label for=\"month\">対象月</label>\
         <input type=\"month\" id=\"month\" name=\"month\" value=\"{}\" max=\"{}\" required>\
         <button type=\"submit\">表示</button></form>",
        esc(value),
        esc(&picker_value(current))
    )
}

pub async fn statistics(State(ops): State<Ops>, Query(q): Query<MonthQuery>) -> Response {
    let current = now().jst_date().compact()[..6].to_string();
    let asked = q.month.as_deref().map(str::trim).filter(|m| !m.is_empty());
    match ops.client.statistics(asked).await {
        Ok(s) => respond(
            StatusCode::OK,
            page(
                "/statistics",
                "利用状況",
                &ops.central_url,
                &statistics_body(&s, &current),
            ),
        ),
        Err(e) => {
            let (status, message) = central_failure(&e);
            let body = format!(
                "{}{}",
                notice(false, &message),
                month_form(asked.unwrap_or(""), &current)
            );
            respond(
                status,
                page("/statistics", "利用状況", &ops.central_url, &body),
            )
        }
    }
}

/// The columns of the usage table: (heading, trusted markup with its line break; key for tests;
/// value).
type Column = (&'static str, &'static str, fn(&UsageFigures) -> String);

const COLUMNS: [Column; 9] = [
    ("資格確認<br>件数", "checks", |f| thousands(f.checks)),
    ("うち<br>マイナ保険証", "by_card", |f| {
        thousands(f.by_card)
    }),
    ("うち<br>保険証等", "by_numbers", |f| {
        thousands(f.by_numbers)
    }),
    ("マイナ保険証<br>利用率", "card_share", |f| {
        percent(f.card_share_percent.as_deref())
    }),
    ("特定健診等<br>情報", "checkups", |f| {
        thousands(f.checkups)
    }),
    ("薬剤<br>情報", "medications", |f| {
        thousands(f.medications)
    }),
    ("診療<br>情報", "treatments", |f| {
        thousands(f.treatments)
    }),
    ("（うち<br>手術情報）", "surgeries", |f| {
        thousands(f.surgeries)
    }),
    ("閲覧の<br>拒否", "refused_views", |f| {
        thousands(f.refused_views)
    }),
];

fn usage_row(label: &str, key: &str, institutions: Option<u64>, f: &UsageFigures) -> String {
    let mut row = format!(
        "<tr data-kind=\"{key}\"><th scope=\"row\">{}</th><td>{}</td>",
        esc(label),
        institutions.map_or_else(|| "—".into(), thousands)
    );
    for (_, col, value) in COLUMNS {
        let _ = write!(row, "<td data-col=\"{col}\">{}</td>", value(f));
    }
    row.push_str("</tr>");
    row
}

fn statistics_body(s: &UsageStatistics, current: &str) -> String {
    let mut b = String::new();
    b.push_str(&month_form(&picker_value(&s.month), current));
    let _ = write!(b, "<p class=\"months\">");
    if let Some(prev) = step_month(&s.month, false) {
        let _ = write!(
            b,
            "<a href=\"/statistics?month={prev}\">← {}</a>",
            month_label(&prev)
        );
    }
    if let Some(next) = step_month(&s.month, true).filter(|n| n.as_str() <= current) {
        let _ = write!(
            b,
            " <a href=\"/statistics?month={next}\">{} →</a>",
            month_label(&next)
        );
    }
    b.push_str("</p>");
    let _ = write!(
        b,
        "<p class=\"period\">集計期間: {} 〜 {}（日本時間）。{}</p>",
        esc(&when(&s.from)),
        esc(&when(&s.to)),
        if s.complete {
            "確定値です。"
        } else {
            "今月分は集計時点までの件数です。"
        }
    );
    let t = &s.total;
    let _ = write!(
        b,
        "<section class=\"summary\" aria-label=\"{month}の概要\">\
         <div><span class=\"k\">オンライン資格確認件数</span><span class=\"v\" data-figure=\"checks\">{}</span></div>\
         <div><span class=\"k\">うちマイナ保険証</span><span class=\"v\" data-figure=\"by_card\">{}</span></div>\
         <div><span class=\"k\">うち保険証等</span><span class=\"v\" data-figure=\"by_numbers\">{}</span></div>\
         <div><span class=\"k\">マイナ保険証利用率</span><span class=\"v\" data-figure=\"card_share\">{}</span></div>\
         </section>",
        thousands(t.checks),
        thousands(t.by_card),
        thousands(t.by_numbers),
        percent(t.card_share_percent.as_deref()),
        month = esc(&month_label(&s.month)),
    );

    // The table in MHLW's layout: one row per institution type, the total at the foot.
    let _ = write!(
        b,
        "<table class=\"usage\" data-table=\"usage\"><caption>{}のオンライン資格確認等システムの利用状況（施設類型別）</caption>\
         <thead><tr><th scope=\"col\">施設類型</th><th scope=\"col\">利用<br>施設数</th>",
        esc(&month_label(&s.month))
    );
    for (heading, _, _) in COLUMNS {
        let _ = write!(b, "<th scope=\"col\">{heading}</th>");
    }
    b.push_str("</tr></thead><tbody>");
    for k in &s.by_kind {
        b.push_str(&usage_row(
            &k.label,
            &k.kind,
            Some(k.institutions),
            &k.figures,
        ));
    }
    b.push_str("</tbody><tfoot>");
    let all: u64 = s.by_kind.iter().map(|k| k.institutions).sum();
    b.push_str(&usage_row("合計", "total", Some(all), t));
    b.push_str("</tfoot></table>");
    b.push_str(
        "<p class=\"note\">資格確認件数はマイナ保険証（オフライン時に受け付け後日確認したものを含む）と\
         保険証等（記号・番号等による確認。一括照会を含む）で回答した件数です。閲覧件数は情報を表示した件数で、\
         診療情報は手術情報を含みます（内数を別に示します）。施設類型は医療機関の登録によります\
         （未登録の医療機関は医療機関コードにより、医科は医科診療所として数えます）。</p>",
    );

    // Charts, each with its numbers in the tables.
    let kinds: Vec<Bar> = s
        .by_kind
        .iter()
        .map(|k: &KindUsage| Bar {
            label: k.label.clone(),
            sublabel: Some(format!(
                "利用率 {}",
                percent(k.figures.card_share_percent.as_deref())
            )),
            card: k.figures.by_card,
            numbers: k.figures.by_numbers,
        })
        .collect();
    let kinds_desc = s
        .by_kind
        .iter()
        .map(|k| {
            format!(
                "{}は{}件（マイナ保険証{}件、保険証等{}件）",
                k.label,
                thousands(k.figures.checks),
                thousands(k.figures.by_card),
                thousands(k.figures.by_numbers)
            )
        })
        .collect::<Vec<_>>()
        .join("、");
    b.push_str("<h2>施設類型別の資格確認件数</h2><figure>");
    b.push_str(&stacked_bars(
        "chart-kinds",
        &format!("{}の施設類型別の資格確認件数", month_label(&s.month)),
        &format!("積み上げ棒グラフ。{kinds_desc}。数値は上の表にもあります。"),
        &kinds,
    ));
    b.push_str("</figure>");

    let trend: Vec<Bar> = s
        .trend
        .iter()
        .enumerate()
        .map(|(i, m)| Bar {
            label: m
                .month
                .get(4..6)
                .and_then(|mm| mm.parse::<u32>().ok())
                .map_or_else(|| m.month.clone(), |mm| format!("{mm}月")),
            sublabel: (i == 0 || m.month.ends_with("01")).then(|| format!("{}年", &m.month[..4])),
            card: m.by_card,
            numbers: m.by_numbers,
        })
        .collect();
    let (first, last) = (
        s.trend.first().map_or("", |m| m.month.as_str()),
        s.trend.last().map_or("", |m| m.month.as_str()),
    );
    let trend_desc = format!(
        "{}から{}までの月別の資格確認件数の積み上げ棒グラフ（下がマイナ保険証、上が保険証等）。{}は{}件、利用率{}。月ごとの数値は下の表にあります。",
        month_label(first),
        month_label(last),
        month_label(last),
        thousands(t.checks),
        percent(t.card_share_percent.as_deref())
    );
    b.push_str("<h2>月別の推移（直近13か月）</h2><figure>");
    b.push_str(&stacked_bars(
        "chart-trend",
        "月別の資格確認件数（マイナ保険証と保険証等）",
        &trend_desc,
        &trend,
    ));
    b.push_str("</figure>");
    b.push_str(
        "<table class=\"trend\" data-table=\"trend\"><caption>月別の資格確認件数</caption><thead><tr>\
         <th scope=\"col\">月</th><th scope=\"col\">資格確認件数</th><th scope=\"col\">うちマイナ保険証</th>\
         <th scope=\"col\">うち保険証等</th><th scope=\"col\">マイナ保険証利用率</th></tr></thead><tbody>",
    );
    for m in &s.trend {
        let _ = write!(
            b,
            "<tr data-month=\"{}\"><th scope=\"row\"><a href=\"/statistics?month={0}\">{}</a></th>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.month),
            esc(&month_label(&m.month)),
            thousands(m.checks),
            thousands(m.by_card),
            thousands(m.by_numbers),
            percent(m.card_share_percent.as_deref())
        );
    }
    b.push_str("</tbody></table>");

    let _ = write!(
        b,
        "<h2>そのほかの件数</h2><table class=\"other\" data-table=\"other\"><caption>{}（合計）</caption><tbody>\
         <tr><th scope=\"row\">一括照会（保険証等の内数）</th><td data-col=\"batch\">{}</td></tr>\
         <tr><th scope=\"row\">資格確認の拒否（資格確認件数に含まない）</th><td data-col=\"refused_checks\">{}</td></tr>\
         <tr><th scope=\"row\">災害時の資格確認（カードなし、資格確認件数に含まない）</th><td data-col=\"emergency_checks\">{}</td></tr>\
         <tr><th scope=\"row\">マイナ保険証の利用登録（医療機関の受付で）</th><td data-col=\"card_registrations\">{}</td></tr>\
         </tbody></table>",
        esc(&month_label(&s.month)),
        thousands(t.batch),
        thousands(t.refused_checks),
        thousands(t.emergency_checks),
        thousands(t.card_registrations),
    );
    b
}

// --- 紐付け確認 ---

#[derive(Debug, Deserialize)]
pub struct ReviewQuery {
    status: Option<String>,
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DismissForm {
    id: String,
    note: String,
}

/// Longest note kept with a dismissed review (characters).
const NOTE_MAX_CHARS: usize = 200;

pub async fn link_reviews(State(ops): State<Ops>, Query(q): Query<ReviewQuery>) -> Response {
    let all = q.status.as_deref() == Some("all");
    reviews_page(&ops, all, done_notice(q.done.as_deref()), StatusCode::OK).await
}

async fn reviews_page(ops: &Ops, all: bool, top: String, status: StatusCode) -> Response {
    let title = "紐付け確認";
    let reviews = match ops.client.link_reviews(!all).await {
        Ok(r) => r,
        Err(e) => return failed(ops, "/link-reviews", title, &e),
    };
    let mut b = top;
    b.push_str(
        "<p class=\"lead\">保険者が登録した個人番号が、地方公共団体情報システム機構の基本4情報と一致しなかった資格です。\
         確認が済むまでマイナ保険証では表示されません。保険者が正しい個人番号を登録し直すと自動で解消します。\
         紐付けない場合は、理由を記録して閉じます（資格は保険証等による確認だけで使われます）。</p>",
    );
    let _ = write!(
        b,
        "<p class=\"filters\"><a href=\"/link-reviews\"{}>未処理のみ</a> <a href=\"/link-reviews?status=all\"{}>すべて</a></p>",
        if all { "" } else { " aria-current=\"true\"" },
        if all { " aria-current=\"true\"" } else { "" },
    );
    if reviews.is_empty() {
        b.push_str(&notice(
            true,
            if all {
                "確認依頼はありません。"
            } else {
                "未処理の確認依頼はありません。"
            },
        ));
        return respond(status, page("/link-reviews", title, &ops.central_url, &b));
    }
    b.push_str(
        "<table class=\"list\" data-table=\"link-reviews\"><thead><tr><th scope=\"col\">番号</th>\
         <th scope=\"col\">保険者番号</th><th scope=\"col\">取込番号</th><th scope=\"col\">発生日時</th>\
         <th scope=\"col\">一致しなかった項目</th><th scope=\"col\">個人番号（下4桁）</th>\
         <th scope=\"col\">状態</th><th scope=\"col\">処理</th></tr></thead><tbody>",
    );
    for r in &reviews {
        let state = match r.status.as_str() {
            "open" => "未処理",
            "resolved_by_import" => "再登録で解消",
            "dismissed" => "紐付けせずに終了",
            _ => "不明",
        };
        let action = if r.status == "open" {
            format!(
                "<form method=\"post\" action=\"/link-reviews/dismiss\" class=\"stack\">\
                 <input type=\"hidden\" name=\"id\" value=\"{id}\">\
                 <label for=\"note-{id}\">理由（記録されます）</label>\
                 <textarea id=\"note-{id}\" name=\"note\" rows=\"2\" maxlength=\"{NOTE_MAX_CHARS}\" required></textarea>\
                 <button type=\"submit\">紐付けせずに閉じる</button></form>",
                id = r.id
            )
        } else {
            format!(
                "{}{}{}",
                r.resolved_at
                    .as_deref()
                    .map(|t| format!("{}<br>", esc(&when(t))))
                    .unwrap_or_default(),
                r.resolved_by
                    .as_deref()
                    .map(|by| format!("{}<br>", esc(by)))
                    .unwrap_or_default(),
                r.note
                    .as_deref()
                    .map(|n| format!("理由: {}", esc(n)))
                    .unwrap_or_default()
            )
        };
        let _ = write!(
            b,
            "<tr data-review=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
            r.id,
            r.id,
            esc(&r.insurer_number),
            r.import_id,
            esc(&when(&r.created_at)),
            esc(&r.mismatched_labels.join("、")),
            esc(&r.number_last4),
            state,
        );
    }
    b.push_str("</tbody></table>");
    respond(status, page("/link-reviews", title, &ops.central_url, &b))
}

pub async fn dismiss_link_review(State(ops): State<Ops>, body: Bytes) -> Response {
    let Some(f) = form::<DismissForm>(&body) else {
        return bad_form(&ops);
    };
    let note = f.note.trim();
    let Ok(id) = f.id.trim().parse::<i64>() else {
        return bad_form(&ops);
    };
    if note.is_empty() || note.chars().count() > NOTE_MAX_CHARS {
        return reviews_page(
            &ops,
            false,
            notice(false, "閉じる理由を200文字以内で入力してください。"),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    match ops
        .client
        .dismiss_link_review(&DismissLinkReviewRequest {
            id,
            note: note.to_string(),
        })
        .await
    {
        Ok(()) => Redirect::to("/link-reviews?done=dismissed").into_response(),
        Err(e) => {
            let (status, message) = central_failure(&e);
            reviews_page(&ops, false, notice(false, &message), status).await
        }
    }
}

// --- 災害時モード ---

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeclareForm {
    areas: String,
    starts_at: String,
    ends_at: String,
    reason: String,
}

/// A `datetime-local` value (`2026-01-15T09:30`, seconds optional) as `yyyyMMddHHmmss`.
fn compact_datetime(value: &str) -> Option<String> {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let ok_shape = value.len() >= 16
        && value.as_bytes().get(4) == Some(&b'-')
        && value.as_bytes().get(10) == Some(&b'T');
    match digits.len() {
        12 if ok_shape => Some(format!("{digits}00")),
        14 if ok_shape => Some(digits),
        _ => None,
    }
}

/// Areas as typed: separated by commas (also 、，) or spaces, full-width digits folded.
fn split_areas(text: &str) -> Vec<String> {
    text.split(|c: char| matches!(c, ',' | '、' | '，') || c.is_whitespace() || c == '\u{3000}')
        .map(kakunin_domain::text::half_width_trimmed)
        .filter(|a| !a.is_empty())
        .collect()
}

pub async fn emergencies(State(ops): State<Ops>, Query(q): Query<DoneQuery>) -> Response {
    emergencies_page(
        &ops,
        done_notice(q.done.as_deref()),
        &DeclareForm::default(),
        StatusCode::OK,
    )
    .await
}

fn declaration_state(d: &DeclarationRecord, now: &str) -> (&'static str, bool) {
    match &d.ended_at {
        Some(_) => ("早期終了", false),
        None if d.active => ("実施中", true),
        None if d.starts_at.as_str() > now => ("開始前", true),
        None => ("期間満了", false),
    }
}

async fn emergencies_page(ops: &Ops, top: String, f: &DeclareForm, status: StatusCode) -> Response {
    let title = "災害時モード";
    let list = match ops.client.emergencies().await {
        Ok(l) => l,
        Err(e) => return failed(ops, "/emergencies", title, &e),
    };
    let now = now().jst_rfc3339();
    let mut b = top;
    b.push_str(
        "<p class=\"lead\">宣言した地域（都道府県または市区町村）の医療機関は、期間中に限り、マイナンバーカードや保険証がなくても\
         氏名・性別・生年月日（・住所）または保険者番号等で資格と診療・薬剤情報を確認できます。\
         閲覧はすべて本人のアクセス記録に災害時として残ります。宣言は終了日時に自動で終わります（最長30日）。</p>",
    );
    if list.is_empty() {
        b.push_str(&notice(true, "宣言はありません。"));
    } else {
        b.push_str(
            "<table class=\"list\" data-table=\"emergencies\"><thead><tr><th scope=\"col\">番号</th>\
             <th scope=\"col\">対象地域</th><th scope=\"col\">開始</th><th scope=\"col\">終了</th>\
             <th scope=\"col\">理由</th><th scope=\"col\">宣言者</th><th scope=\"col\">状態</th>\
             <th scope=\"col\">操作</th></tr></thead><tbody>",
        );
        for d in &list {
            let (state, can_end) = declaration_state(d, &now);
            let state = match &d.ended_at {
                Some(t) => format!("{state}（{}）", esc(&when(t))),
                None => state.to_string(),
            };
            let action = if can_end {
                format!(
                    "<form method=\"post\" action=\"/emergencies/{}/end\">\
                     <button type=\"submit\" class=\"danger\">終了する</button></form>",
                    d.id
                )
            } else {
                String::new()
            };
            let _ = write!(
                b,
                "<tr data-declaration=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{state}</td><td>{action}</td></tr>",
                d.id,
                d.id,
                esc(&d.areas.join("、")),
                esc(&when(&d.starts_at)),
                esc(&when(&d.ends_at)),
                esc(&d.reason),
                esc(&d.declared_by),
            );
        }
        b.push_str("</tbody></table>");
    }
    let _ = write!(
        b,
        "<h2>宣言する</h2><form method=\"post\" action=\"/emergencies\" class=\"grid\">\
         <label for=\"areas\">対象地域</label><div><input id=\"areas\" name=\"areas\" value=\"{}\" required \
         placeholder=\"例: 13, 27100\" aria-describedby=\"areas-hint\">\
         <p id=\"areas-hint\" class=\"hint\">都道府県番号（2桁）または市区町村コード（5桁）。複数はカンマか空白で区切ります。</p></div>\
         <label for=\"starts_at\">開始</label><div><input type=\"datetime-local\" id=\"starts_at\" name=\"starts_at\" value=\"{}\">\
         <p class=\"hint\">空欄なら今から。</p></div>\
         <label for=\"ends_at\">終了</label><div><input type=\"datetime-local\" id=\"ends_at\" name=\"ends_at\" value=\"{}\" required></div>\
         <label for=\"reason\">理由</label><div><input id=\"reason\" name=\"reason\" value=\"{}\" maxlength=\"100\" required \
         placeholder=\"例: 令和8年〇〇地震\"><p class=\"hint\">患者のアクセス記録に表示されます。</p></div>\
         <div></div><div><button type=\"submit\">宣言する</button></div></form>",
        esc(&f.areas),
        esc(&f.starts_at),
        esc(&f.ends_at),
        esc(&f.reason),
    );
    respond(status, page("/emergencies", title, &ops.central_url, &b))
}

pub async fn declare_emergency(State(ops): State<Ops>, body: Bytes) -> Response {
    let Some(f) = form::<DeclareForm>(&body) else {
        return bad_form(&ops);
    };
    let refuse = |message: &str| notice(false, message);
    let starts_at = match f.starts_at.trim() {
        "" => None,
        s => match compact_datetime(s) {
            Some(c) => Some(c),
            None => {
                return emergencies_page(
                    &ops,
                    refuse("開始日時が正しくありません。"),
                    &f,
                    StatusCode::BAD_REQUEST,
                )
                .await
            }
        },
    };
    let Some(ends_at) = compact_datetime(f.ends_at.trim()) else {
        return emergencies_page(
            &ops,
            refuse("終了日時を入力してください。"),
            &f,
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let request = DeclarationRequest {
        areas: split_areas(&f.areas),
        starts_at,
        ends_at,
        reason: f.reason.trim().to_string(),
    };
    match ops.client.declare_emergency(&request).await {
        Ok(_) => Redirect::to("/emergencies?done=declared").into_response(),
        Err(e) => {
            let (status, message) = central_failure(&e);
            emergencies_page(&ops, refuse(&message), &f, status).await
        }
    }
}

pub async fn end_emergency(State(ops): State<Ops>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return bad_form(&ops);
    };
    match ops.client.end_emergency(id).await {
        Ok(()) => Redirect::to("/emergencies?done=ended").into_response(),
        Err(e) => {
            let (status, message) = central_failure(&e);
            emergencies_page(
                &ops,
                notice(false, &message),
                &DeclareForm::default(),
                status,
            )
            .await
        }
    }
}

// --- 医療機関 ---

#[derive(Debug, Deserialize)]
pub struct InstitutionQuery {
    done: Option<String>,
    /// A registered code whose registration prefills the form.
    edit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InstitutionForm {
    code: String,
    name: String,
    kind: String,
    municipality: String,
}

const KINDS: [(&str, &str); 4] = [
    ("hospital", "病院"),
    ("medical_clinic", "医科診療所"),
    ("dental", "歯科"),
    ("pharmacy", "薬局"),
];

pub async fn institutions(State(ops): State<Ops>, Query(q): Query<InstitutionQuery>) -> Response {
    institutions_page(
        &ops,
        done_notice(q.done.as_deref()),
        None,
        q.edit.as_deref(),
        StatusCode::OK,
    )
    .await
}

async fn institutions_page(
    ops: &Ops,
    top: String,
    entered: Option<&InstitutionForm>,
    edit: Option<&str>,
    status: StatusCode,
) -> Response {
    let title = "医療機関";
    let list: Vec<InstitutionRecord> = match ops.client.institutions().await {
        Ok(l) => l,
        Err(e) => return failed(ops, "/institutions", title, &e),
    };
    let prefill = edit
        .and_then(|code| list.iter().find(|i| i.code == code))
        .map(|i| InstitutionForm {
            code: i.code.clone(),
            name: i.name.clone(),
            kind: i.kind.clone(),
            municipality: i.municipality.clone().unwrap_or_default(),
        });
    let f = entered.or(prefill.as_ref());
    let mut b = top;
    b.push_str(
        "<p class=\"lead\">登録した名称は患者のアクセス記録に、種別は利用状況の施設類型に、市区町村は災害時モードの地域に使われます。\
         未登録の医療機関は医療機関コードで表示・集計されます。</p>",
    );
    if list.is_empty() {
        b.push_str(&notice(true, "登録された医療機関はありません。"));
    } else {
        b.push_str(
            "<table class=\"list\" data-table=\"institutions\"><thead><tr><th scope=\"col\">医療機関コード</th>\
             <th scope=\"col\">名称</th><th scope=\"col\">種別</th><th scope=\"col\">都道府県</th>\
             <th scope=\"col\">市区町村コード</th><th scope=\"col\">操作</th></tr></thead><tbody>",
        );
        for i in &list {
            let _ = write!(
                b,
                "<tr data-institution=\"{c}\"><td>{c}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td><a href=\"/institutions?edit={c}#register\">変更</a> \
                 <a href=\"/certificates?subject={c}\">証明書</a></td></tr>",
                esc(&i.name),
                esc(&i.kind_label),
                esc(&i.prefecture),
                esc(i.municipality.as_deref().unwrap_or("—")),
                c = esc(&i.code),
            );
        }
        b.push_str("</tbody></table>");
    }
    let (code, name, kind, municipality) = f.map_or(("", "", "", ""), |f| {
        (
            f.code.as_str(),
            f.name.as_str(),
            f.kind.as_str(),
            f.municipality.as_str(),
        )
    });
    let mut options = String::from("<option value=\"\">選んでください</option>");
    for (value, label) in KINDS {
        let _ = write!(
            options,
            "<option value=\"{value}\"{}>{label}</option>",
            if value == kind { " selected" } else { "" }
        );
    }
    let _ = write!(
        b,
        "<h2 id=\"register\">登録・変更</h2><form method=\"post\" action=\"/institutions\" class=\"grid\">\
         <label for=\"code\">医療機関コード</label><div><input id=\"code\" name=\"code\" value=\"{}\" required \
         inputmode=\"numeric\" maxlength=\"10\" aria-describedby=\"code-hint\">\
         <p id=\"code-hint\" class=\"hint\">10桁（検証番号を含む）。登録済みのコードは上書きします。</p></div>\
         <label for=\"name\">名称</label><div><input id=\"name\" name=\"name\" value=\"{}\" maxlength=\"100\" required></div>\
         <label for=\"kind\">種別</label><div><select id=\"kind\" name=\"kind\" required>{options}</select>\
         <p class=\"hint\">医療機関コードの3桁目（1 医科、3 歯科、4 調剤）と合う種別を選びます。</p></div>\
         <label for=\"municipality\">市区町村コード</label><div><input id=\"municipality\" name=\"municipality\" value=\"{}\" \
         inputmode=\"numeric\" maxlength=\"5\"><p class=\"hint\">5桁（任意）。医療機関コードと同じ都道府県。</p></div>\
         <div></div><div><button type=\"submit\">登録する</button></div></form>",
        esc(code),
        esc(name),
        esc(municipality),
    );
    respond(status, page("/institutions", title, &ops.central_url, &b))
}

pub async fn register_institution(State(ops): State<Ops>, body: Bytes) -> Response {
    let Some(f) = form::<InstitutionForm>(&body) else {
        return bad_form(&ops);
    };
    let request = InstitutionRequest {
        code: f.code.trim().to_string(),
        name: f.name.clone(),
        kind: f.kind.clone(),
        municipality: Some(f.municipality.trim().to_string()).filter(|m| !m.is_empty()),
    };
    match ops.client.register_institution(&request).await {
        Ok(_) => Redirect::to("/institutions?done=registered").into_response(),
        Err(e) => {
            let (status, message) = central_failure(&e);
            institutions_page(&ops, notice(false, &message), Some(&f), None, status).await
        }
    }
}

// --- データ鮮度 ---

#[derive(Debug, Deserialize)]
pub struct DaysQuery {
    days: Option<String>,
}

/// An insurer whose last import is older than this many days is highlighted.
const STALE_DAYS: i64 = 7;

pub async fn freshness(State(ops): State<Ops>, Query(q): Query<DaysQuery>) -> Response {
    let title = "データ鮮度";
    let days_text = q.days.as_deref().map(str::trim).unwrap_or("30");
    let form = |value: &str| {
        format!(
            "<form method=\"get\" action=\"/freshness\" class=\"inline\"><label for=\"days\">期間</label>\
             <input type=\"number\" id=\"days\" name=\"days\" min=\"1\" max=\"366\" value=\"{}\" required> 日\
             <button type=\"submit\">表示</button></form>",
            esc(value)
        )
    };
    let Ok(days) = days_text.parse::<u32>() else {
        let body = format!(
            "{}{}",
            notice(false, "期間は1〜366日で指定してください。"),
            form(days_text)
        );
        return respond(
            StatusCode::BAD_REQUEST,
            page("/freshness", title, &ops.central_url, &body),
        );
    };
    let report = match ops.client.freshness(days).await {
        Ok(r) => r,
        Err(e) => {
            let (status, message) = central_failure(&e);
            let body = format!("{}{}", notice(false, &message), form(days_text));
            return respond(status, page("/freshness", title, &ops.central_url, &body));
        }
    };
    let mut b = form(&report.days.to_string());
    let _ = write!(
        b,
        "<p class=\"lead\">保険者ごとに、最後に資格情報が取り込まれた日時と、{}以降の取込回数・更新件数、\
         資格取得日（資格喪失日）から取り込まれて確認できるようになるまでの日数です。\
         日数は新しいものから最大1,000件の中央値と90パーセンタイルです（既存の資格をまとめて登録した最初の取込を含む期間は、日数が大きくなります）。\
         取込が{STALE_DAYS}日より前の保険者は強調します。</p>",
        esc(&when(&report.since))
    );
    if report.insurers.is_empty() {
        b.push_str(&notice(true, "資格情報はまだ取り込まれていません。"));
        return respond(
            StatusCode::OK,
            page("/freshness", title, &ops.central_url, &b),
        );
    }
    let lag = |l: &kakunin_api::LagRecord| match (l.median_days, l.p90_days) {
        (Some(m), Some(p)) => format!(
            "{m}日 / {p}日<span class=\"sub\">（{}件）</span>",
            thousands(l.sampled)
        ),
        _ => "—".to_string(),
    };
    b.push_str(
        "<table class=\"list\" data-table=\"freshness\"><thead><tr><th scope=\"col\">保険者番号</th>\
         <th scope=\"col\">最終取込</th><th scope=\"col\">経過日数</th><th scope=\"col\">取込回数</th>\
         <th scope=\"col\">更新件数</th><th scope=\"col\">資格取得から反映まで（中央値 / 90%）</th>\
         <th scope=\"col\">資格喪失から反映まで（中央値 / 90%）</th></tr></thead><tbody>",
    );
    for i in &report.insurers {
        let stale = i.days_since_import.is_none_or(|d| d > STALE_DAYS);
        let _ = write!(
            b,
            "<tr data-insurer=\"{n}\"{}><td>{n}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            if stale { " class=\"stale\"" } else { "" },
            i.last_import_at
                .as_deref()
                .map_or_else(|| "期間内になし".to_string(), |t| esc(&when(t))),
            i.days_since_import
                .map_or_else(|| "—".to_string(), |d| format!("{d}日")),
            thousands(i.imports),
            thousands(i.rows),
            lag(&i.acquired),
            lag(&i.lost),
            n = esc(&i.insurer_number),
        );
    }
    b.push_str("</tbody></table>");
    respond(
        StatusCode::OK,
        page("/freshness", title, &ops.central_url, &b),
    )
}

// --- 失効 ---

pub async fn revocations(State(ops): State<Ops>) -> Response {
    let title = "失効";
    let list = match ops.client.certificates().await {
        Ok(l) => l,
        Err(e) => return failed(&ops, "/revocations", title, &e),
    };
    let data = ops
        .data_dir
        .as_ref()
        .map_or_else(|| "DATA".to_string(), |d| d.display().to_string());
    let mut b = String::from(
        "<h2>医療機関・保険者・端末・運用者の証明書</h2>\
         <p class=\"lead\">kakunin の認証局が発行したクライアント証明書の失効は「証明書」の画面で行います。\
         失効した証明書は、すべての中央システムで数秒以内に（接続中のものも次の要求から）使えなくなります。</p>",
    );
    let revoked: Vec<_> = list.iter().filter(|c| c.revocation.is_some()).collect();
    if revoked.is_empty() {
        b.push_str(&notice(true, "失効させた証明書はありません。"));
    } else {
        b.push_str(&crate::certs::table(&revoked, false));
    }
    let _ = write!(
        b,
        "<p><a href=\"/certificates\">証明書の一覧・発行・失効へ</a></p>\
         <h2>マイナンバーカードの電子証明書</h2>\
         <p>カードの電子証明書の失効・一時停止は、地方公共団体情報システム機構（このシステムでは認証局の代わりの authority）で行います。\
         中央システムは失効リスト（CRL）を60秒ごとに取得し、失効した証明書によるカードでの資格確認を拒否します。\
         失効リストが取得できない間は、カードでの確認を止め、保険証等での確認は続けます。次のコマンドで行います。</p>\
         <h3>カードを失効させる</h3><pre><code>kakunin card revoke --data {d} --card virtual:カードファイル</code></pre>\
         <h3>一時停止と解除</h3><pre><code>kakunin card revoke --data {d} --card virtual:カードファイル --suspend\n\
         kakunin card revoke --data {d} --card virtual:カードファイル --resume</code></pre>\
         <p class=\"hint\">実物のカードは <code>--card pcsc</code>（カードリーダー）で指定します。中央システムのデータディレクトリ（authority を内蔵している場合）で実行します。</p>",
        d = esc(&data),
    );
    respond(
        StatusCode::OK,
        page("/revocations", title, &ops.central_url, &b),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_local_values() {
        for (v, c) in [
            ("2026-01-15T09:30", Some("20260115093000")),
            ("2026-01-15T09:30:45", Some("20260115093045")),
            ("2026-01-15 09:30", None),
            ("202601150930", None),
            ("", None),
        ] {
            assert_eq!(compact_datetime(v).as_deref(), c, "{v}");
        }
    }

    #[test]
    fn areas_as_typed() {
        assert_eq!(split_areas("13, 27100"), vec!["13", "27100"]);
        assert_eq!(
            split_areas("１３、２７１００　01"),
            vec!["13", "27100", "01"]
        );
        assert!(split_areas(" , ").is_empty());
    }

    #[test]
    fn months_step_across_years() {
        assert_eq!(step_month("202601", false).as_deref(), Some("202512"));
        assert_eq!(step_month("202512", true).as_deref(), Some("202601"));
        assert_eq!(step_month("2026", true), None);
        assert_eq!(picker_value("202601"), "2026-01");
    }
}
