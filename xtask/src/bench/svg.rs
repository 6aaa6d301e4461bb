//! The benchmark report's two figures, written as SVG directly: latency distributions as lines, ratios to the
//! default scheduler as grouped bars, both with axes, grid and legend.
//!
//! Kept rather than `plotters` (SVG backend only): its clean build adds three crates and about 10 % to xtask's
//! (22 s to 25 s of CPU), and the two figures would not get much shorter, since both need their own log-scale
//! ticks and labels and the bars' grouping by metric, while the per-bar `<title>` tooltips would be lost.

use std::fmt::Write as _;

const W: f64 = 860.0;
const H: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLOURS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Escapes text for XML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

fn open(out: &mut String, title: &str) {
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        escape(title)
    );
}

fn legend(out: &mut String, names: &[String], first_colour: usize) {
    for (i, name) in names.iter().enumerate() {
        let y = TOP + 10.0 + i as f64 * 20.0;
        let x = W - RIGHT + 15.0;
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="{}" width="14" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            y - 9.0,
            colour(first_colour + i),
            x + 20.0,
            y,
            escape(name)
        );
    }
}

/// A short axis label: `512µs`, `1ms`, `4.1ms`, `33ms`.
fn label_us(us: u64) -> String {
    if us < 1000 {
        return format!("{us}µs");
    }
    let ms = us as f64 / 1000.0;
    if ms < 10.0 && (ms - ms.round()).abs() >= 0.05 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.0}ms")
    }
}

/// Latency distributions: for each named series of power-of-two buckets
/// `(exclusive upper bound µs, count)`, the fraction of samples per bucket.
pub fn latency_plot(title: &str, series: &[(String, Vec<(u64, u64)>)]) -> String {
    let mut bounds: Vec<u64> = series
        .iter()
        .flat_map(|(_, b)| b.iter().filter(|(_, n)| *n > 0).map(|(u, _)| *u))
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    // Plot from the first to the last bucket any series uses.
    let (lo, hi) = match (bounds.first(), bounds.last()) {
        (Some(&lo), Some(&hi)) if hi > lo => (lo, hi),
        (Some(&lo), _) => (lo, lo * 2),
        _ => (1, 2),
    };
    let steps = ((hi as f64).log2() - (lo as f64).log2()).round().max(1.0);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x_of = |us: u64| LEFT + ((us as f64).log2() - (lo as f64).log2()) / steps * pw;
    let y_of = |frac: f64| TOP + ph - frac * ph;

    let mut out = String::new();
    open(&mut out, title);
    axes(
        &mut out,
        "fraction of wakeups",
        "wakeup latency (bucket upper bound, log scale)",
    );
    for t in 0..=4 {
        let f = f64::from(t) / 4.0;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{f:.2}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            y_of(f) + 4.0,
            y = y_of(f)
        );
    }
    // Label every bucket, or every other one when they would crowd.
    let every = if steps > 10.0 { 2 } else { 1 };
    let (mut us, mut k) = (lo, 0);
    while us <= hi {
        k += 1;
        if (k - 1) % every != 0 {
            us *= 2;
            continue;
        }
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x_of(us),
            TOP + ph + 16.0,
            label_us(us)
        );
        us *= 2;
    }
    for (i, (_, buckets)) in series.iter().enumerate() {
        let total: u64 = buckets.iter().map(|(_, n)| n).sum();
        if total == 0 {
            continue;
        }
        let points: Vec<String> = buckets
            .iter()
            .filter(|(u, _)| (lo..=hi).contains(u))
            .map(|&(u, n)| format!("{:.1},{:.1}", x_of(u), y_of(n as f64 / total as f64)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            colour(i),
            points.join(" ")
        );
    }
    let names: Vec<String> = series.iter().map(|(n, _)| n.clone()).collect();
    legend(&mut out, &names, 0);
    out.push_str("</svg>\n");
    out
}

fn axes(out: &mut String, y_title: &str, x_title: &str) {
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let _ = writeln!(
        out,
        r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="black"/><line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#,
        TOP + ph,
        TOP + ph,
        LEFT + pw,
        TOP + ph
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        H - 15.0,
        escape(x_title)
    );
    let _ = writeln!(
        out,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        escape(y_title)
    );
}

/// Grouped bars of ratios to the default scheduler on a log scale: one
/// group per metric, one bar per named series (None: no bar). Series `i`
/// gets colour `first_colour + i` (so a scheduler keeps its colour across plots).
pub fn ratio_bars(
    title: &str,
    metrics: &[&str],
    series: &[(String, Vec<Option<f64>>)],
    first_colour: usize,
) -> String {
    let ratios: Vec<f64> = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .filter(|r| *r > 0.0 && r.is_finite())
        .collect();
    let max = ratios.iter().copied().fold(2.0_f64, f64::max);
    let min = ratios.iter().copied().fold(0.5_f64, f64::min);
    let (lmin, lmax) = (min.log2().floor(), max.log2().ceil());
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let y_of = |r: f64| TOP + ph - (r.log2() - lmin) / (lmax - lmin) * ph;

    let mut out = String::new();
    open(&mut out, title);
    axes(&mut out, "ratio to the default scheduler (log scale)", "");
    let mut e = lmin;
    while e <= lmax {
        let r = 2f64.powf(e);
        let stroke = if e == 0.0 { "#000" } else { "#ddd" };
        let _ = writeln!(
            out,
            r#"<line x1="{LEFT}" x2="{}" y1="{y}" y2="{y}" stroke="{stroke}"/><text x="{}" y="{}" text-anchor="end">{}x</text>"#,
            LEFT + pw,
            LEFT - 6.0,
            y_of(r) + 4.0,
            if r < 1.0 {
                format!("{r:.2}")
            } else {
                format!("{r:.0}")
            },
            y = y_of(r)
        );
        e += 1.0;
    }
    let group_w = pw / metrics.len().max(1) as f64;
    let bar_w = (group_w * 0.8) / series.len().max(1) as f64;
    for (g, metric) in metrics.iter().enumerate() {
        let gx = LEFT + g as f64 * group_w + group_w * 0.1;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            gx + group_w * 0.4,
            TOP + ph + 16.0,
            escape(metric)
        );
        for (i, (_, values)) in series.iter().enumerate() {
            let Some(r) = values.get(g).copied().flatten().filter(|r| *r > 0.0) else {
                continue;
            };
            let (y0, y1) = (y_of(1.0), y_of(r));
            let _ = writeln!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {r:.2}x</title></rect>"#,
                gx + i as f64 * bar_w,
                y0.min(y1),
                bar_w * 0.9,
                (y0 - y1).abs().max(1.0),
                colour(first_colour + i),
                escape(&series[i].0),
                escape(metric)
            );
        }
    }
    let names: Vec<String> = series.iter().map(|(n, _)| n.clone()).collect();
    legend(&mut out, &names, first_colour);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balanced(svg: &str) -> bool {
        svg.starts_with("<svg")
            && svg.trim_end().ends_with("</svg>")
            && svg.matches("<svg").count() == 1
    }

    #[test]
    fn latency_plot_has_a_line_per_series() {
        let svg = latency_plot(
            "lat <x>",
            &[
                ("default".into(), vec![(1, 0), (2, 5), (4, 5)]),
                ("scx_a&b".into(), vec![(1, 0), (2, 0), (4, 2), (8, 8)]),
                ("empty".into(), vec![]),
            ],
        );
        assert!(balanced(&svg), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("lat &lt;x&gt;"));
        assert!(svg.contains("scx_a&amp;b"));
        // 2 µs .. 8 µs are labelled; 1 µs (empty everywhere) is not.
        assert!(svg.contains(">8µs<") && !svg.contains(">1µs<"));
        assert_eq!(label_us(1024), "1ms");
        assert_eq!(label_us(4096), "4.1ms");
        assert_eq!(label_us(32768), "33ms");
    }

    #[test]
    fn ratio_bars_skip_missing_values() {
        let svg = ratio_bars(
            "ratios",
            &["hackbench", "cyclictest"],
            &[
                ("scx_a".into(), vec![Some(1.2), None]),
                ("scx_b".into(), vec![Some(0.5), Some(20.0)]),
            ],
            1,
        );
        assert!(balanced(&svg));
        assert_eq!(svg.matches("<title>").count(), 3);
        assert!(svg.contains("scx_b cyclictest: 20.00x"));
        // The log scale reaches 32x to hold 20x.
        assert!(svg.contains(">32x<"), "{svg}");
    }
}
