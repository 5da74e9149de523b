//! HTML pages for glass-box models (`xai glassbox … --out DIR`): the model is its own
//! explanation, so the page is the model, laid out the way people read it — a rule list as a
//! table of rules with the training points each captures, a risk score as a scoring sheet and a
//! score-to-risk table, a GAM as its terms ranked by importance with their shape plots.

use std::fmt::Write as _;

use xai_glassbox::gam::Gam;
use xai_glassbox::risk_score::RiskScore;
use xai_glassbox::rule_list::RuleList;

use crate::demo::report::esc;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}\
td,th{border:1px solid #ccc;padding:4px 8px}th{background:#f4f4f4}\
table{border-collapse:collapse;margin:1em 0}td.n{text-align:right}img{max-width:100%}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body><h1>{t}</h1>\n{body}</body></html>\n",
        t = esc(title)
    )
}

/// A rule list as a table: each rule with the training rows it captures (those no earlier rule
/// took) and how many of them it classifies correctly.
pub fn rule_list_html(list: &RuleList, x: &[Vec<bool>], y: &[bool]) -> String {
    let mut taken = vec![false; x.len()];
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<p>Objective {:.6} = training error {:.6} + c × {} rules; {}.</p>",
        list.objective,
        list.train_error,
        list.rules.len(),
        if list.certified {
            "certified optimal".to_string()
        } else {
            format!(
                "not certified after {} prefixes (the optimum is at least {:.6})",
                list.nodes, list.lower_bound
            )
        }
    );
    b.push_str("<table><tr><th></th><th>condition</th><th>predict</th><th>captures</th><th>correct</th></tr>\n");
    let term = |&(f, v): &(usize, bool)| {
        if v {
            esc(&list.names[f])
        } else {
            format!("not {}", esc(&list.names[f]))
        }
    };
    let rows = list
        .rules
        .iter()
        .map(|(a, p)| (Some(a), *p))
        .chain(std::iter::once((None, list.default)));
    for (k, (antecedent, predict)) in rows.enumerate() {
        let (mut captured, mut correct) = (0, 0);
        for (i, row) in x.iter().enumerate() {
            if !taken[i] && antecedent.is_none_or(|a| a.matches(row)) {
                taken[i] = true;
                captured += 1;
                correct += usize::from(y[i] == predict);
            }
        }
        let (word, cond) = match antecedent {
            Some(a) => (
                if k == 0 { "if" } else { "else if" },
                a.terms.iter().map(term).collect::<Vec<_>>().join(" and "),
            ),
            None => ("else", String::new()),
        };
        let _ = writeln!(
            b,
            "<tr><td>{word}</td><td>{cond}</td><td class=\"n\">{}</td><td class=\"n\">{captured}</td>\
             <td class=\"n\">{correct} ({:.0}%)</td></tr>",
            u8::from(predict),
            100.0 * correct as f64 / captured.max(1) as f64
        );
    }
    b.push_str("</table>\n");
    page("Rule list", &b)
}

/// A risk score as a scoring sheet (points per feature) and the risk at every total score.
pub fn risk_score_html(s: &RiskScore) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<p>Objective {:.6} = logistic loss {:.6} + C0 × {} nonzero points; intercept {}; {}.</p>",
        s.objective,
        s.loss,
        s.points.iter().filter(|&&p| p != 0).count(),
        s.intercept,
        if s.certified {
            "certified optimal"
        } else {
            "not certified (node budget reached)"
        }
    );
    b.push_str("<h2>Scoring sheet</h2><table><tr><th>feature</th><th>points</th><th></th></tr>\n");
    for (name, p) in s.names.iter().zip(&s.points).filter(|(_, p)| **p != 0) {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td class=\"n\">{p:+}</td><td>+ …</td></tr>",
            esc(name)
        );
    }
    b.push_str("<tr><th>score</th><th colspan=\"2\">= sum of the points of the features present</th></tr></table>\n");
    b.push_str("<h2>Risk</h2><table><tr><th>score</th>");
    let table = s.table();
    for (t, _) in &table {
        let _ = write!(b, "<td class=\"n\">{t}</td>");
    }
    b.push_str("</tr><tr><th>risk</th>");
    for (_, r) in &table {
        let _ = write!(b, "<td class=\"n\">{:.1}%</td>", 100.0 * r);
    }
    b.push_str("</tr></table>\n");
    page("Risk score", &b)
}

/// A GAM's terms ranked by importance, each with its plot (`plots[k]` is term `k`'s file).
pub fn gam_html(gam: &Gam, plots: &[String]) -> String {
    let names = gam.term_names();
    let mut order: Vec<usize> = (0..gam.terms.len()).collect();
    order.sort_by(|&a, &b| gam.terms[b].importance.total_cmp(&gam.terms[a].importance));
    let mut b = format!(
        "<p>log-odds = {:+.4} + the sum of the terms below (each centred on the training rows); \
         the model's parameters are in <a href=\"gam.json\">gam.json</a>.</p>\n\
         <table><tr><th>term</th><th>importance (mean |contribution|)</th></tr>\n",
        gam.intercept
    );
    for &k in &order {
        let _ = writeln!(
            b,
            "<tr><td><a href=\"#t{k}\">{}</a></td><td class=\"n\">{:.4}</td></tr>",
            esc(&names[k]),
            gam.terms[k].importance
        );
    }
    b.push_str("</table>\n");
    for &k in &order {
        let _ = writeln!(
            b,
            "<h2 id=\"t{k}\">{}</h2><img src=\"{}\" alt=\"shape of {}\">",
            esc(&names[k]),
            esc(&plots[k]),
            esc(&names[k])
        );
    }
    page("Generalised additive model", &b)
}
