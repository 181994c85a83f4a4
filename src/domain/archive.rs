//! Archived periodic reports (plan 002: records archived by week, month, quarter,
//! half-year and year; half-year and annual service summaries): which periods are
//! complete on a day, the frozen snapshot of one, and the printable summary (HTML with
//! simple inline SVG charts).

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::report::{Figures, Period, Report};

/// The periods archived, shortest first.
pub const KINDS: [Period; 5] = [
    Period::Week,
    Period::Month,
    Period::Quarter,
    Period::HalfYear,
    Period::Year,
];

/// For each kind, the last period complete before `today`: `(kind, first day, the day
/// after the last)`. A period is archived once it appears here.
pub fn complete_on(today: NaiveDate) -> Vec<(Period, NaiveDate, NaiveDate)> {
    KINDS
        .iter()
        .map(|&k| {
            let (first, end) = k.last_before(today);
            (k, first, end)
        })
        .collect()
}

/// The calendar months of `[first, end)`: `(YYYY-MM, first day, day after the last)`.
pub fn months(first: NaiveDate, end: NaiveDate) -> Vec<(String, NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut m = first;
    while m < end {
        let Some(next) = m.checked_add_months(Months::new(1)) else {
            break;
        };
        let next = next.min(end);
        out.push((m.format("%Y-%m").to_string(), m, next));
        m = next;
    }
    out
}

/// One month's figures within a longer period (the trend).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthFigures {
    /// `YYYY-MM`.
    pub month: String,
    /// The figures of the tickets reported that month.
    pub figures: Figures,
}

/// A period's report as frozen at its end: later edits to tickets do not change it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// `week`, `month`, `quarter`, `half-year` or `year`.
    pub kind: String,
    /// First local day.
    pub first_day: NaiveDate,
    /// Last local day.
    pub last_day: NaiveDate,
    /// The report (total figures, complaints, repeat faults).
    pub report: Report,
    /// Month by month, for periods longer than a month.
    pub months: Vec<MonthFigures>,
}

/// Text made safe inside HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

fn pct(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".into(), |r| format!("{:.1} %", r * 100.0))
}

/// A bar chart as inline SVG: one bar per `(label, value)`, scaled to the largest.
fn bars(title: &str, values: &[(String, f64)], unit: &str) -> String {
    const W: usize = 40;
    const H: f64 = 120.0;
    let max = values.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let width = values.len().max(1) * W + 20;
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width}\" height=\"170\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    for (i, (label, v)) in values.iter().enumerate() {
        let h = if max > 0.0 { v / max * H } else { 0.0 };
        let x = 10 + i * W;
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{:.1}\" width=\"{}\" height=\"{h:.1}\" fill=\"#4a7ab5\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}{}</text>\
             <text x=\"{}\" y=\"160\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x + 4,
            10.0 + H - h,
            W - 8,
            x + W / 2,
            8.0 + H - h,
            (v * 10.0).round() / 10.0,
            esc(unit),
            x + W / 2,
            esc(label.get(5..).unwrap_or(label)),
        ));
    }
    svg.push_str("</svg></figure>");
    svg
}

/// The contract's figures as table rows.
fn figure_rows(f: &Figures) -> Vec<(&'static str, String)> {
    let sla = |k: &str| pct(f.sla.get(k).and_then(|c| c.rate));
    vec![
        ("报修量 Tickets", f.tickets.to_string()),
        ("响应达标 Response SLA", sla("response")),
        ("到场达标 On-site SLA", sla("on_site")),
        ("解决达标 Resolution SLA", sla("resolution")),
        ("重开率 Reopened", pct(f.reopen_rate)),
        ("用户确认 Confirmed", f.confirmed.to_string()),
        ("回访回复率 Survey response", pct(f.response_rate)),
        ("满意率 Satisfied (target ≥ 95 %)", pct(f.satisfaction_rate)),
        ("投诉 Complaints (target 0)", f.complaints.to_string()),
    ]
}

impl Snapshot {
    /// The printable service summary (half-year and annual): the contract's figures,
    /// complaints, trends by month with simple charts, and the repeat-fault list. One
    /// self-contained HTML page (print it to PDF from a browser).
    pub fn to_html(&self) -> String {
        let r = &self.report;
        let title = format!(
            "服务总结 Service summary {} – {} ({})",
            self.first_day, self.last_day, self.kind
        );
        let mut h = format!(
            "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <title>{t}</title><style>body{{font-family:sans-serif;margin:2em}}\
             table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:4px 8px}}\
             figure{{display:inline-block;margin:1em}}@media print{{figure{{break-inside:avoid}}}}\
             </style></head><body><h1>{t}</h1>",
            t = esc(&title)
        );
        h.push_str("<h2>合同指标 Contract figures</h2><table>");
        for (name, value) in figure_rows(&r.total) {
            h.push_str(&format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                esc(name),
                esc(&value)
            ));
        }
        let c = &r.complaint_records;
        h.push_str(&format!(
            "<tr><th>投诉登记 Complaints received</th><td>{}</td></tr>\
             <tr><th>按时答复 Answered in time</th><td>{}</td></tr>\
             <tr><th>未结 Still open</th><td>{}</td></tr></table>",
            c.received, c.answered_in_time, c.open
        ));
        if !self.months.is_empty() {
            h.push_str("<h2>月度趋势 Trend by month</h2><table><tr><th>月份 Month</th>");
            for (name, _) in figure_rows(&r.total) {
                h.push_str(&format!("<th>{}</th>", esc(name)));
            }
            h.push_str("</tr>");
            for m in &self.months {
                h.push_str(&format!("<tr><td>{}</td>", esc(&m.month)));
                for (_, value) in figure_rows(&m.figures) {
                    h.push_str(&format!("<td>{}</td>", esc(&value)));
                }
                h.push_str("</tr>");
            }
            h.push_str("</table>");
            let series = |f: &dyn Fn(&Figures) -> f64| -> Vec<(String, f64)> {
                self.months
                    .iter()
                    .map(|m| (m.month.clone(), f(&m.figures)))
                    .collect()
            };
            h.push_str(&bars("报修量 Tickets", &series(&|f| f.tickets as f64), ""));
            h.push_str(&bars(
                "解决达标 Resolution SLA %",
                &series(&|f| f.sla.get("resolution").and_then(|c| c.rate).unwrap_or(0.0) * 100.0),
                "",
            ));
            h.push_str(&bars(
                "满意率 Satisfied %",
                &series(&|f| f.satisfaction_rate.unwrap_or(0.0) * 100.0),
                "",
            ));
        }
        h.push_str("<h2>重复故障 Repeat faults (≥ 3 tickets in 90 days)</h2>");
        if r.repeat_faults.is_empty() {
            h.push_str("<p>无 None</p>");
        } else {
            h.push_str("<table><tr><th>资产编号 Asset</th><th>报修 Tickets</th></tr>");
            for f in &r.repeat_faults {
                h.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td></tr>",
                    esc(&f.asset_tag),
                    f.tickets
                ));
            }
            h.push_str("</table>");
        }
        h.push_str("</body></html>");
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn on_new_years_day_every_kind_has_just_ended() {
        let got = complete_on(d(2027, 1, 1));
        assert_eq!(
            got,
            vec![
                (Period::Week, d(2026, 12, 21), d(2026, 12, 28)),
                (Period::Month, d(2026, 12, 1), d(2027, 1, 1)),
                (Period::Quarter, d(2026, 10, 1), d(2027, 1, 1)),
                (Period::HalfYear, d(2026, 7, 1), d(2027, 1, 1)),
                (Period::Year, d(2026, 1, 1), d(2027, 1, 1)),
            ]
        );
        // The day before, December was not complete yet.
        assert_eq!(complete_on(d(2026, 12, 31))[1].1, d(2026, 11, 1));
    }

    #[test]
    fn months_split_a_half_year() {
        let m = months(d(2026, 7, 1), d(2027, 1, 1));
        assert_eq!(m.len(), 6);
        assert_eq!(m[0], ("2026-07".into(), d(2026, 7, 1), d(2026, 8, 1)));
        assert_eq!(m[5], ("2026-12".into(), d(2026, 12, 1), d(2027, 1, 1)));
        assert!(months(d(2026, 7, 1), d(2026, 7, 1)).is_empty());
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(esc("<b a=\"1\">&'"), "&lt;b a=&quot;1&quot;&gt;&amp;&#39;");
        let svg = bars("t", &[("2026-01".into(), 2.0), ("2026-02".into(), 0.0)], "");
        assert!(svg.contains("<svg") && svg.contains(">01<") && svg.contains(">02<"));
    }
}
