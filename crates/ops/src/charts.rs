//! Charts drawn on the server as inline SVG: no script, no chart library. Each chart has a
//! `<title>` and a `<desc>` that says what it shows in words, each bar a `<title>` with its
//! figures, and the page shows the same numbers in a table.

use crate::html::{compact, esc, thousands};
use std::fmt::Write;

/// One bar: My Number card checks stacked under insurance-number checks.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    /// A second line under the label (e.g. the year, or the card share).
    pub sublabel: Option<String>,
    pub card: u64,
    pub numbers: u64,
}

/// The fill of マイナ保険証 and of 保険証等 (distinct in grey scale too).
pub const CARD_FILL: &str = "#1d4ed8";
pub const NUMBERS_FILL: &str = "#a8b3c4";

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 52.0;

/// A step of 1, 2 or 5 × 10ⁿ giving at most 4 grid intervals up to `max`.
fn nice_step(max: u64) -> u64 {
    let raw = max.div_ceil(4).max(1);
    let mut magnitude = 1u64;
    while magnitude.saturating_mul(10) <= raw {
        magnitude *= 10;
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10 * magnitude)
}

/// A stacked bar chart of card and number checks. `id` makes the element ids unique on the
/// page.
pub fn stacked_bars(id: &str, title: &str, desc: &str, bars: &[Bar]) -> String {
    let max = bars.iter().map(|b| b.card + b.numbers).max().unwrap_or(0);
    let step = nice_step(max);
    let top_value = step * max.div_ceil(step).max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let base = TOP + plot_h;
    let y_of = |v: u64| base - v as f64 / top_value as f64 * plot_h;

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"{id}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        esc(title),
        esc(desc)
    );
    // Legend.
    for (i, (fill, label)) in [(CARD_FILL, "マイナ保険証"), (NUMBERS_FILL, "保険証等")]
        .into_iter()
        .enumerate()
    {
        let x = LEFT + i as f64 * 140.0;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"12\" width=\"14\" height=\"14\" fill=\"{fill}\"/>\
             <text x=\"{:.1}\" y=\"24\" font-size=\"13\">{label}</text>",
            x + 20.0
        );
    }
    // Grid and its labels.
    let mut v = 0;
    while v <= top_value {
        let y = y_of(v);
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#d0d7de\" stroke-width=\"1\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 8.0,
            y + 4.0,
            compact(v)
        );
        v += step;
    }
    // Bars.
    let slot = plot_w / bars.len().max(1) as f64;
    let bar_w = (slot * 0.6).min(72.0);
    for (i, b) in bars.iter().enumerate() {
        let total = b.card + b.numbers;
        let x = LEFT + i as f64 * slot + (slot - bar_w) / 2.0;
        let center = x + bar_w / 2.0;
        let (card_top, numbers_top) = (y_of(b.card), y_of(total));
        let _ = write!(
            svg,
            "<g class=\"bar\"><title>{}: マイナ保険証 {}件、保険証等 {}件</title>\
             <rect x=\"{x:.1}\" y=\"{card_top:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\" fill=\"{CARD_FILL}\"/>\
             <rect x=\"{x:.1}\" y=\"{numbers_top:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\" fill=\"{NUMBERS_FILL}\"/>",
            esc(&b.label),
            thousands(b.card),
            thousands(b.numbers),
            base - card_top,
            card_top - numbers_top,
        );
        if total > 0 {
            let _ = write!(
                svg,
                "<text x=\"{center:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
                numbers_top - 4.0,
                compact(total)
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{center:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
            base + 18.0,
            esc(&b.label)
        );
        if let Some(sub) = &b.sublabel {
            let _ = write!(
                svg,
                "<text x=\"{center:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#57606a\">{}</text>",
                base + 34.0,
                esc(sub)
            );
        }
        svg.push_str("</g>");
    }
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\" stroke=\"#57606a\" stroke-width=\"1\"/></svg>",
        WIDTH - RIGHT
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_one_two_five() {
        for (max, step) in [
            (0, 1),
            (3, 1),
            (4, 1),
            (5, 2),
            (16, 5),
            (40, 10),
            (41, 20),
            (274_600_000, 100_000_000),
        ] {
            assert_eq!(nice_step(max), step, "{max}");
        }
    }

    fn attr(svg: &str, from: usize, name: &str) -> f64 {
        let rest = &svg[from..];
        let i = rest.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        rest[i..i + rest[i..].find('"').unwrap()].parse().unwrap()
    }

    #[test]
    fn bars_are_proportional_and_labelled() {
        let bars = vec![
            Bar {
                label: "病院".into(),
                sublabel: Some("利用率 75.00%".into()),
                card: 3,
                numbers: 1,
            },
            Bar {
                label: "<薬局>".into(),
                sublabel: None,
                card: 0,
                numbers: 0,
            },
        ];
        let svg = stacked_bars("k", "施設類型別", "説明 & 数字", &bars);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("<title id=\"k-title\">施設類型別</title>"));
        assert!(svg.contains("<desc id=\"k-desc\">説明 &amp; 数字</desc>"));
        assert!(svg.contains("aria-labelledby=\"k-title k-desc\""));
        assert!(svg.contains("<title>病院: マイナ保険証 3件、保険証等 1件</title>"));
        assert!(svg.contains("&lt;薬局&gt;") && !svg.contains("<薬局>"));
        assert!(svg.contains("利用率 75.00%"));
        // The card part is three times the numbers part; the total is the top of the scale.
        let card = svg.find(&format!("fill=\"{CARD_FILL}\"/><rect")).unwrap();
        let card_rect = svg[..card].rfind("<rect").unwrap();
        let numbers_rect = card + svg[card..].find("<rect").unwrap();
        let (hc, hn) = (
            attr(&svg, card_rect, "height"),
            attr(&svg, numbers_rect, "height"),
        );
        assert!((hc - 3.0 * hn).abs() < 0.2, "{hc} {hn}");
        assert!((hc + hn - (HEIGHT - TOP - BOTTOM)).abs() < 0.2);
        assert_eq!(svg.matches("<g class=\"bar\">").count(), 2);
        assert!(svg.ends_with("</svg>"));
    }
}
