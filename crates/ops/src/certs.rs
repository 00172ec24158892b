//! 証明書: the registry of client certificates (institutions, insurers, clinic terminals,
//! operators): the list with filters, issuing one (the PEM is shown once, to download and hand
//! over), and revoking one with a reason.

use crate::html::{esc, info, notice, page, respond, when};
use crate::pages::{bad_form, central_failure, done_notice, failed, form};
use crate::Ops;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kakunin_api::{
    CertificateRecord, CertificateRequest, InstitutionRecord, RevocationRequest, CERTIFICATE_KINDS,
    REVOCATION_REASONS,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt::Write;

/// The list's filters (fixed words, and a code of digits).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CertificateQuery {
    kind: String,
    status: String,
    subject: String,
    done: Option<String>,
}

const STATUSES: [(&str, &str); 3] = [
    ("valid", "有効"),
    ("expired", "期限切れ"),
    ("revoked", "失効"),
];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IssueForm {
    kind: String,
    subject: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RevokeForm {
    reason: String,
}

pub async fn certificates(State(ops): State<Ops>, Query(q): Query<CertificateQuery>) -> Response {
    let top = done_notice(q.done.as_deref());
    certificates_page(&ops, &q, top, &IssueForm::default(), StatusCode::OK).await
}

/// The registry as a table; with `actions`, each certificate not revoked has its revoke form.
pub(crate) fn table(list: &[&CertificateRecord], actions: bool) -> String {
    table_with_names(list, actions, &HashMap::new())
}

fn table_with_names(
    list: &[&CertificateRecord],
    actions: bool,
    names: &HashMap<String, String>,
) -> String {
    let mut b = String::from(
        "<table class=\"list\" data-table=\"certificates\"><thead><tr>\
         <th scope=\"col\">種別</th><th scope=\"col\">対象</th><th scope=\"col\">シリアル番号</th>\
         <th scope=\"col\">有効期間</th><th scope=\"col\">登録</th><th scope=\"col\">状態</th>",
    );
    if actions {
        b.push_str("<th scope=\"col\">操作</th>");
    }
    b.push_str("</tr></thead><tbody>");
    let mut reasons = String::from("<option value=\"\">理由を選んでください</option>");
    for (code, label) in REVOCATION_REASONS {
        let _ = write!(reasons, "<option value=\"{code}\">{label}</option>");
    }
    for c in list {
        let subject = match names.get(&c.subject) {
            Some(name) if c.kind == "institution" || c.kind == "terminal" => {
                format!(
                    "{}<br><span class=\"hint\">{}</span>",
                    esc(&c.subject),
                    esc(name)
                )
            }
            _ => esc(&c.subject),
        };
        let registered = match &c.issued_by {
            Some(by) => format!("{} 発行（{}）", esc(&when(&c.recorded_at)), esc(by)),
            None => format!("{} 使用時に登録", esc(&when(&c.recorded_at))),
        };
        let status = match &c.revocation {
            Some(r) => format!(
                "<strong>{}</strong><br><span class=\"hint\">{} {}（{}）</span>",
                esc(&c.status_label),
                esc(&when(&r.revoked_at)),
                esc(&r.reason_label),
                esc(&r.revoked_by)
            ),
            None => esc(&c.status_label),
        };
        let _ = write!(
            b,
            "<tr data-certificate=\"{serial}\" data-status=\"{}\"><td>{}</td><td>{subject}</td>\
             <td><code>{serial}</code></td><td>{} 〜 {}</td><td>{registered}</td><td>{status}</td>",
            esc(&c.status),
            esc(&c.kind_label),
            esc(&when(&c.not_before)),
            esc(&when(&c.not_after)),
            serial = esc(&c.serial),
        );
        if actions {
            if c.revocation.is_none() {
                let _ = write!(
                    b,
                    "<td><form method=\"post\" action=\"/certificates/{serial}/revoke\" class=\"inline\">\
                     <label class=\"visually-hidden\" for=\"reason-{serial}\">失効の理由</label>\
                     <select id=\"reason-{serial}\" name=\"reason\" required>{reasons}</select> \
                     <button type=\"submit\" class=\"danger\">失効させる</button></form></td>",
                    serial = esc(&c.serial),
                );
            } else {
                b.push_str("<td></td>");
            }
        }
        b.push_str("</tr>");
    }
    b.push_str("</tbody></table>");
    b
}

fn options(all: &str, choices: &[(&str, &str)], selected: &str) -> String {
    let mut o = format!("<option value=\"\">{all}</option>");
    for (value, label) in choices {
        let _ = write!(
            o,
            "<option value=\"{value}\"{}>{label}</option>",
            if *value == selected { " selected" } else { "" }
        );
    }
    o
}

/// A code filter: digits only (医療機関コード, 保険者番号), at most 10.
fn subject_filter(text: &str) -> Option<&str> {
    let t = text.trim();
    (!t.is_empty() && t.len() <= 10 && t.bytes().all(|b| b.is_ascii_digit())).then_some(t)
}

async fn certificates_page(
    ops: &Ops,
    q: &CertificateQuery,
    top: String,
    entered: &IssueForm,
    status: StatusCode,
) -> Response {
    let title = "証明書";
    let list = match ops.client.certificates().await {
        Ok(l) => l,
        Err(e) => return failed(ops, "/certificates", title, &e),
    };
    // Names help to tell clinics apart; the list still shows without them.
    let names: HashMap<String, String> = ops
        .client
        .institutions()
        .await
        .map(|l: Vec<InstitutionRecord>| l.into_iter().map(|i| (i.code, i.name)).collect())
        .unwrap_or_default();
    let subject = subject_filter(&q.subject);
    let shown: Vec<&CertificateRecord> = list
        .iter()
        .filter(|c| q.kind.is_empty() || c.kind == q.kind)
        .filter(|c| q.status.is_empty() || c.status == q.status)
        .filter(|c| subject.is_none_or(|s| c.subject == s))
        .collect();
    let mut b = top;
    b.push_str(
        "<p class=\"lead\">kakunin の認証局が発行したクライアント証明書です。ここで発行したものと、\
         コマンド（kakunin ca issue）で発行され中央システムに一度接続したものが載ります。\
         失効させた証明書は、すべての中央システムで数秒以内に（接続中のものも次の要求から）使えなくなります。失効は取り消せません。</p>",
    );
    let _ = write!(
        b,
        "<form method=\"get\" action=\"/certificates\" class=\"filters\">\
         <label for=\"f-kind\">種別</label><select id=\"f-kind\" name=\"kind\">{}</select>\
         <label for=\"f-status\">状態</label><select id=\"f-status\" name=\"status\">{}</select>\
         <label for=\"f-subject\">番号</label><input id=\"f-subject\" name=\"subject\" value=\"{}\" \
         inputmode=\"numeric\" maxlength=\"10\" placeholder=\"医療機関コード・保険者番号\">\
         <button type=\"submit\">絞り込む</button></form>",
        options("すべて", CERTIFICATE_KINDS, &q.kind),
        options("すべて", &STATUSES, &q.status),
        esc(subject.unwrap_or_default()),
    );
    if list.is_empty() {
        b.push_str(&info("登録された証明書はありません。"));
    } else if shown.is_empty() {
        b.push_str(&info("条件に合う証明書はありません。"));
    } else {
        let _ = write!(b, "<p class=\"hint\">{}件</p>", shown.len());
        b.push_str(&table_with_names(&shown, true, &names));
    }
    let _ = write!(
        b,
        "<h2 id=\"issue\">発行する</h2><form method=\"post\" action=\"/certificates\" class=\"grid\">\
         <label for=\"kind\">種別</label><div><select id=\"kind\" name=\"kind\" required>{}</select>\
         <p class=\"hint\">資格確認端末は、顔認証・目視確認を署名する端末の鍵です（医療機関コードで発行）。</p></div>\
         <label for=\"subject\">番号</label><div><input id=\"subject\" name=\"subject\" value=\"{}\" required maxlength=\"64\" \
         aria-describedby=\"subject-hint\"><p id=\"subject-hint\" class=\"hint\">医療機関コード（10桁）、保険者番号（8桁、国保は6桁）、または運用者ID（英数字）。</p></div>\
         <div></div><div><button type=\"submit\">発行する</button></div></form>",
        options("選んでください", CERTIFICATE_KINDS, &entered.kind),
        esc(&entered.subject),
    );
    respond(status, page("/certificates", title, &ops.central_url, &b))
}

/// `data:` URL of a PEM, for a download link without script.
fn pem_data_url(pem: &str) -> String {
    let mut url = String::from("data:application/x-pem-file;charset=utf-8,");
    for b in pem.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            url.push(char::from(b));
        } else {
            let _ = write!(url, "%{b:02X}");
        }
    }
    url
}

pub async fn issue(State(ops): State<Ops>, body: Bytes) -> Response {
    let Some(f) = form::<IssueForm>(&body) else {
        return bad_form(&ops);
    };
    let request = CertificateRequest {
        kind: f.kind.trim().to_string(),
        subject: f.subject.trim().to_string(),
    };
    let issued = match ops.client.issue_certificate(&request).await {
        Ok(i) => i,
        Err(e) => {
            let (status, message) = central_failure(&e);
            return certificates_page(
                &ops,
                &CertificateQuery::default(),
                notice(false, &message),
                &f,
                status,
            )
            .await;
        }
    };
    let c = &issued.certificate;
    let file = format!("kakunin-{}-{}.pem", c.kind, c.subject);
    let top = format!(
        "{}<section class=\"issued\" aria-labelledby=\"issued-title\"><h2 id=\"issued-title\">発行した証明書</h2>\
         <p>{} {}（シリアル番号 <code>{}</code>、{} まで有効）</p>\
         <p><a class=\"button\" href=\"{}\" download=\"{}\">証明書と秘密鍵をダウンロード（{}）</a></p>\
         <p class=\"hint\">秘密鍵は中央システムに保存されず、この画面を離れると二度と表示されません。\
         安全な方法で渡し、受け取った側は権限を絞って保管してください（例: chmod 600）。</p>\
         <label for=\"pem\">PEM</label><textarea id=\"pem\" readonly rows=\"8\" spellcheck=\"false\">{}</textarea></section>",
        notice(true, "証明書を発行しました。"),
        esc(&c.kind_label),
        esc(&c.subject),
        esc(&c.serial),
        esc(&when(&c.not_after)),
        esc(&pem_data_url(&issued.pem)),
        esc(&file),
        esc(&file),
        esc(&issued.pem),
    );
    certificates_page(
        &ops,
        &CertificateQuery::default(),
        top,
        &IssueForm::default(),
        StatusCode::OK,
    )
    .await
}

pub async fn revoke(State(ops): State<Ops>, Path(serial): Path<String>, body: Bytes) -> Response {
    // Only hex goes into the central's URL.
    if serial.is_empty() || serial.len() > 40 || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
        return bad_form(&ops);
    }
    let Some(f) = form::<RevokeForm>(&body) else {
        return bad_form(&ops);
    };
    match ops
        .client
        .revoke_certificate(&serial, &RevocationRequest { reason: f.reason })
        .await
    {
        Ok(_) => Redirect::to("/certificates?done=revoked").into_response(),
        Err(e) => {
            let (status, message) = central_failure(&e);
            certificates_page(
                &ops,
                &CertificateQuery::default(),
                notice(false, &message),
                &IssueForm::default(),
                status,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_downloads_as_a_data_url() {
        assert_eq!(
            pem_data_url("-----BEGIN X-----\nab+/=\n"),
            "data:application/x-pem-file;charset=utf-8,-----BEGIN%20X-----%0Aab%2B%2F%3D%0A"
        );
    }

    #[test]
    fn subject_filters_are_codes() {
        assert_eq!(subject_filter(" 1310000019 "), Some("1310000019"));
        assert_eq!(subject_filter("06139992"), Some("06139992"));
        for bad in ["", "ops", "12345678901", "1310-0001"] {
            assert_eq!(subject_filter(bad), None, "{bad}");
        }
    }
}
