//! HTML building blocks: escaping, the page frame, numbers and dates as the pages show them.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values (and SVG text).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The console's pages, in the navigation's order: (path, label).
pub const NAV: [(&str, &str); 7] = [
    ("/statistics", "利用状況"),
    ("/link-reviews", "紐付け確認"),
    ("/emergencies", "災害時モード"),
    ("/institutions", "医療機関"),
    ("/freshness", "データ鮮度"),
    ("/certificates", "証明書"),
    ("/revocations", "失効"),
];

/// A whole page: title, navigation (with `current` marked), the body and a footer.
pub fn page(current: &str, title: &str, central: &str, body: &str) -> String {
    let mut nav = String::new();
    for (path, label) in NAV {
        let here = if path == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{path}\"{here}>{}</a>", esc(label));
    }
    format!(
        "<!doctype html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} | kakunin 運用コンソール</title>\
         <link rel=\"stylesheet\" href=\"/style.css\"></head>\
         <body><header><p class=\"brand\">kakunin 運用コンソール</p>\
         <nav aria-label=\"ページ\">{nav}</nav></header>\
         <main><h1>{title}</h1>{body}</main>\
         <footer>接続先の中央システム: {central}（運用者の証明書で接続しています）</footer>\
         </body></html>\n",
        title = esc(title),
        central = esc(central),
    )
}

/// An HTML answer.
pub fn respond(status: StatusCode, html: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// A short page with a heading and one message (refusals, errors).
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    respond(
        status,
        format!(
            "<!doctype html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">\
             <title>{t} | kakunin 運用コンソール</title>\
             <link rel=\"stylesheet\" href=\"/style.css\"></head>\
             <body><main><h1>{t}</h1><p class=\"error\" role=\"alert\">{m}</p>\
             <p><a href=\"/statistics\">利用状況へ戻る</a></p></main></body></html>\n",
            t = esc(title),
            m = esc(message),
        ),
    )
}

/// A notice above a page's content: `ok` (done) or an error.
pub fn notice(ok: bool, text: &str) -> String {
    if ok {
        format!("<p class=\"notice\" role=\"status\">{}</p>", esc(text))
    } else {
        format!("<p class=\"error\" role=\"alert\">{}</p>", esc(text))
    }
}

/// A neutral notice: how things are, not an error.
pub fn info(text: &str) -> String {
    format!("<p class=\"info\" role=\"note\">{}</p>", esc(text))
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count as a chart label: `9,999`, `27.5万`, `2.75億`.
pub fn compact(n: u64) -> String {
    if n < 10_000 {
        return thousands(n);
    }
    // Past 9,995万 the rounded figure reads better in 億.
    let (value, unit) = if n < 99_950_000 {
        (n as f64 / 10_000.0, "万")
    } else {
        (n as f64 / 100_000_000.0, "億")
    };
    let digits = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    let text = format!("{value:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{unit}")
}

/// `yyyyMM` → `2026年1月`.
pub fn month_label(code: &str) -> String {
    match (
        code.get(..4),
        code.get(4..6).and_then(|m| m.parse::<u32>().ok()),
    ) {
        (Some(y), Some(m)) => format!("{y}年{m}月"),
        _ => code.to_string(),
    }
}

/// RFC 3339 (`2026-01-15T09:30:00.000+09:00`) → `2026-01-15 09:30`.
pub fn when(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t}"),
        _ => rfc3339.to_string(),
    }
}

/// A percentage string of the API (`"37.14"`) for display, `—` when there is none.
pub fn percent(p: Option<&str>) -> String {
    p.map_or_else(|| "—".to_string(), |p| format!("{p}%"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc("架空病院"), "架空病院");
    }

    #[test]
    fn numbers_as_shown() {
        for (n, t) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (274_600_000, "274,600,000"),
        ] {
            assert_eq!(thousands(n), t);
        }
        for (n, t) in [
            (9_999, "9,999"),
            (10_000, "1万"),
            (12_345, "1.23万"),
            (275_000, "27.5万"),
            (1_019_900, "102万"),
            (99_949_999, "9995万"),
            (99_999_999, "1億"),
            (274_600_000, "2.75億"),
            (1_000_000_000, "10億"),
        ] {
            assert_eq!(compact(n), t, "{n}");
        }
        assert_eq!(month_label("202601"), "2026年1月");
        assert_eq!(when("2026-01-15T09:30:00.000+09:00"), "2026-01-15 09:30");
        assert_eq!(percent(Some("37.14")), "37.14%");
        assert_eq!(percent(None), "—");
    }
}
