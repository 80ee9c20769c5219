//! Server-rendered SVG bar charts for the dashboards: horizontal bars in groups (one group per rule,
//! month or institution; one bar per series), an optional reference line (the policy's 50% 阳性率), and
//! a `<title>` on every bar for hover and screen readers. Every chart is shown beside a table of the
//! same numbers, so nothing is only in the picture. Text is escaped; classes come from the caller's
//! fixed words.

use std::fmt::Write;

/// One bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Its value (same unit as the chart's maximum).
    pub value: f64,
    /// CSS class (a fixed word: `flagged`, `below`, …).
    pub class: &'static str,
    /// The hover text.
    pub title: String,
}

/// A group of bars under one label.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The label at the left.
    pub label: String,
    /// Its bars, top to bottom.
    pub bars: Vec<Bar>,
}

/// A vertical reference line at `value`, labelled.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Where.
    pub value: f64,
    /// Its label.
    pub label: String,
}

const LABEL_W: f64 = 190.0;
const PLOT_W: f64 = 420.0;
const BAR_H: f64 = 12.0;
const GAP: f64 = 8.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart as an `<svg>` element with id `id`.
pub fn bars(
    id: &str,
    title: &str,
    groups: &[Group],
    max: f64,
    reference: Option<&Reference>,
) -> String {
    let max = if max > 0.0 && max.is_finite() {
        max
    } else {
        1.0
    };
    let x = |v: f64| LABEL_W + (v.clamp(0.0, max) / max) * PLOT_W;
    let group_h = |g: &Group| g.bars.len().max(1) as f64 * (BAR_H + 2.0) + GAP;
    let height = 24.0 + groups.iter().map(group_h).sum::<f64>() + 8.0;
    let width = LABEL_W + PLOT_W + 60.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg id=\"{id}\" class=\"chart\" role=\"img\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" \
         height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        escape(title)
    );
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{LABEL_W}\" y1=\"16\" x2=\"{LABEL_W}\" y2=\"{}\"/>",
        height - 6.0
    );
    let mut y = 24.0;
    for group in groups {
        let _ = write!(
            svg,
            "<text class=\"label\" x=\"{}\" y=\"{}\">{}</text>",
            LABEL_W - 6.0,
            y + BAR_H - 2.0,
            escape(&group.label)
        );
        for bar in &group.bars {
            let w = (x(bar.value) - LABEL_W).max(if bar.value > 0.0 { 1.0 } else { 0.0 });
            let _ = write!(
                svg,
                "<rect class=\"bar {}\" x=\"{LABEL_W}\" y=\"{y}\" width=\"{w:.1}\" height=\"{BAR_H}\">\
                 <title>{}</title></rect>",
                bar.class,
                escape(&bar.title)
            );
            y += BAR_H + 2.0;
        }
        y += GAP;
    }
    if let Some(reference) = reference {
        let rx = x(reference.value);
        let _ = write!(
            svg,
            "<line class=\"reference\" x1=\"{rx:.1}\" y1=\"14\" x2=\"{rx:.1}\" y2=\"{}\"/>\
             <text class=\"reference-label\" x=\"{rx:.1}\" y=\"11\">{}</text>",
            height - 6.0,
            escape(&reference.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_maximum_and_text_is_escaped() {
        let groups = vec![Group {
            label: "<冒名>".into(),
            bars: vec![
                Bar {
                    value: 0.25,
                    class: "below",
                    title: "25%".into(),
                },
                Bar {
                    value: 2.0,
                    class: "ok",
                    title: "over".into(),
                },
            ],
        }];
        let reference = Reference {
            value: 0.5,
            label: "50%".into(),
        };
        let svg = bars("c", "t", &groups, 1.0, Some(&reference));
        assert!(svg.contains("&lt;冒名&gt;"), "{svg}");
        assert!(svg.contains("width=\"105.0\""), "a quarter of 420: {svg}");
        assert!(
            svg.contains("width=\"420.0\""),
            "clamped to the maximum: {svg}"
        );
        assert!(svg.contains("x1=\"400.0\""), "the 50% line half way: {svg}");
    }
}
