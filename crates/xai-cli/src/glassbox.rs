//! `xai glassbox …`: models a person can read, learned from a labelled CSV file (header row,
//! 0/1 features, a 0/1 label column).

use std::path::PathBuf;

use xai::glassbox::cart::{Cart, CartConfig};
use xai::glassbox::gam::{GamConfig, fit_gam};
use xai::glassbox::risk_score::{RiskScoreConfig, fit_risk_score};
use xai::glassbox::rule_list::{RuleListConfig, fit_rule_list};
use xai::glassbox::sparse_linear::{SparseLinearConfig, fit_sparse_logistic};
use xai::glassbox::table::Table;

#[derive(clap::Subcommand)]
pub enum Action {
    /// Fit every learner on DATA/tabular_data.json (the shared glass-box layout) and print
    /// train / test accuracy and AUC, model size and seconds per learner, and the objectives
    /// of the references found beside it.
    Bench {
        /// Folder with tabular_data.json (and rule_list.json, scoring_system.json, gam.json).
        #[arg(long)]
        data: PathBuf,
        /// One JSON object on one line instead of a pretty one.
        #[arg(long)]
        json: bool,
    },
    /// A certifiably optimal rule list (CORELS's objective: error + c · rules).
    RuleList {
        /// Training data: CSV with a header, binary features and a 0/1 label column.
        #[arg(long)]
        data: PathBuf,
        /// The label column.
        #[arg(long)]
        label: String,
        /// Penalty per rule.
        #[arg(long, default_value_t = 0.01)]
        c: f64,
        /// Features per antecedent (1 or 2).
        #[arg(long, default_value_t = 2)]
        max_card: usize,
        /// Prefixes to evaluate before stopping uncertified.
        #[arg(long, default_value_t = 5_000_000)]
        max_nodes: usize,
        /// Also write OUT/index.html (the rule list as a table) and OUT/model.json.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// An integer-point risk score (RiskSLIM's objective: logistic loss + C0 · nonzero points),
    /// exact by branch and bound.
    RiskScore {
        /// Training data: CSV with a header, binary features and a 0/1 label column.
        #[arg(long)]
        data: PathBuf,
        /// The label column.
        #[arg(long)]
        label: String,
        /// Penalty per nonzero point.
        #[arg(long, default_value_t = 0.01)]
        c0: f64,
        /// Largest absolute points per feature.
        #[arg(long, default_value_t = 5)]
        max_points: i32,
        /// Largest absolute intercept.
        #[arg(long, default_value_t = 10)]
        max_intercept: i32,
        /// Also write OUT/index.html (scoring sheet and risk table) and OUT/model.json.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A CART decision tree (Gini) with depth and leaf limits and cost-complexity pruning,
    /// printed as nested rules.
    Tree {
        /// Training data: CSV with a header, numeric features and a 0/1 label column.
        #[arg(long)]
        data: PathBuf,
        /// The label column.
        #[arg(long)]
        label: String,
        /// Deepest split level (default: unlimited).
        #[arg(long)]
        max_depth: Option<usize>,
        /// Fewest training rows in a leaf.
        #[arg(long, default_value_t = 1)]
        min_leaf: usize,
        /// Cost-complexity pruning strength (scikit-learn's `ccp_alpha`).
        #[arg(long, default_value_t = 0.0)]
        ccp_alpha: f64,
    },
    /// An L1-regularised logistic regression: the few features with nonzero coefficients, in
    /// log-odds per unit.
    Linear {
        /// Training data: CSV with a header, numeric features and a 0/1 label column.
        #[arg(long)]
        data: PathBuf,
        /// The label column.
        #[arg(long)]
        label: String,
        /// L1 penalty on the mean logistic loss.
        #[arg(long, default_value_t = 0.01)]
        lambda: f64,
    },
    /// A generalised additive model learned as an Explainable Boosting Machine: prints the
    /// terms by importance and writes OUT/gam.json and one SVG shape plot per term.
    Gam {
        /// Training data: CSV with a header, numeric features and a 0/1 label column.
        #[arg(long)]
        data: PathBuf,
        /// The label column.
        #[arg(long)]
        label: String,
        /// Pairwise interaction terms chosen by FAST.
        #[arg(long, default_value_t = 10)]
        interactions: usize,
        /// Bagged models.
        #[arg(long, default_value_t = 8)]
        bags: usize,
        /// Seed of the bags' splits.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder.
        #[arg(long, default_value = "xai-gam")]
        out: PathBuf,
    },
}

pub fn run(action: Action) -> anyhow::Result<bool> {
    match action {
        Action::Bench { data, json } => {
            let v = xai_bench::glassbox::run(&data)?;
            if json {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&v)?);
            }
        }
        Action::RuleList {
            data,
            label,
            c,
            max_card,
            max_nodes,
            out,
        } => {
            let t = Table::load(&data, &label)?;
            let staging = out
                .as_deref()
                .map(xai::output::Staging::begin)
                .transpose()?;
            let cfg = RuleListConfig {
                c,
                max_card,
                max_nodes,
                ..RuleListConfig::default()
            };
            let x = t.binary()?;
            let list = fit_rule_list(&x, &t.labels, &t.names, &cfg)?;
            println!("{list}");
            if let Some(staging) = staging {
                let model = serde_json::json!({
                    "rules": list.rules.iter().map(|(a, p)| serde_json::json!({
                        "if": a.terms.iter().map(|&(f, v)| serde_json::json!({"feature": t.names[f], "is": v})).collect::<Vec<_>>(),
                        "predict": p,
                    })).collect::<Vec<_>>(),
                    "default": list.default, "objective": list.objective, "c": c,
                    "train_error": list.train_error, "certified": list.certified,
                    "lower_bound": list.lower_bound, "prefixes": list.nodes,
                });
                write_report(
                    staging,
                    &xai::glassbox_report::rule_list_html(&list, &x, &t.labels),
                    &model,
                )?;
            }
            println!(
                "objective {:.6} = training error {:.6} + {c} × {} rules; {}",
                list.objective,
                list.train_error,
                list.rules.len(),
                if list.certified {
                    "certified optimal".to_string()
                } else {
                    format!(
                        "not certified after {} prefixes (optimum ≥ {:.6})",
                        list.nodes, list.lower_bound
                    )
                }
            );
        }
        Action::RiskScore {
            data,
            label,
            c0,
            max_points,
            max_intercept,
            out,
        } => {
            let t = Table::load(&data, &label)?;
            let staging = out
                .as_deref()
                .map(xai::output::Staging::begin)
                .transpose()?;
            if max_points < 0 || max_intercept < 0 {
                anyhow::bail!("--max-points and --max-intercept must be ≥ 0");
            }
            let cfg = RiskScoreConfig {
                c0,
                points: (-max_points, max_points),
                intercept: (-max_intercept, max_intercept),
                ..RiskScoreConfig::default()
            };
            let s = fit_risk_score(&t.binary()?, &t.labels, &t.names, &cfg)?;
            println!("{s}");
            if let Some(staging) = staging {
                let model = serde_json::json!({
                    "points": t.names.iter().zip(&s.points).map(|(n, p)| serde_json::json!({"feature": n, "points": p})).collect::<Vec<_>>(),
                    "intercept": s.intercept, "objective": s.objective, "loss": s.loss, "c0": c0,
                    "certified": s.certified,
                    "risk_by_score": s.table().iter().map(|(t, r)| serde_json::json!({"score": t, "risk": r})).collect::<Vec<_>>(),
                });
                write_report(staging, &xai::glassbox_report::risk_score_html(&s), &model)?;
            }
            println!(
                "objective {:.6} = logistic loss {:.6} + {c0} × {} nonzero points (intercept {}); {}",
                s.objective,
                s.loss,
                s.points.iter().filter(|&&p| p != 0).count(),
                s.intercept,
                if s.certified {
                    "certified optimal"
                } else {
                    "node budget reached: not certified"
                }
            );
        }
        Action::Tree {
            data,
            label,
            max_depth,
            min_leaf,
            ccp_alpha,
        } => {
            let t = Table::load(&data, &label)?;
            let y: Vec<usize> = t.labels.iter().map(|&l| usize::from(l)).collect();
            let cfg = CartConfig {
                max_depth: max_depth.unwrap_or(usize::MAX),
                min_leaf,
                ccp_alpha,
            };
            let tree = Cart::fit(&t.rows, &y, &t.names, &cfg)?;
            print!("{tree}");
            let right = t
                .rows
                .iter()
                .zip(&y)
                .filter(|(r, c)| tree.predict(r) == **c)
                .count();
            println!(
                "{} leaves, depth {}, training accuracy {:.4}",
                tree.leaves(),
                tree.depth(),
                right as f64 / y.len() as f64
            );
        }
        Action::Linear {
            data,
            label,
            lambda,
        } => {
            let t = Table::load(&data, &label)?;
            let cfg = SparseLinearConfig {
                lambda,
                ..SparseLinearConfig::default()
            };
            let m = fit_sparse_logistic(&t.rows, &t.labels, &t.names, &cfg)?;
            println!("{m}");
            println!(
                "objective {:.6} (mean logistic loss + {lambda} × ‖w‖₁){}",
                m.objective,
                if m.converged { "" } else { "; not converged" }
            );
        }
        Action::Gam {
            data,
            label,
            interactions,
            bags,
            seed,
            out,
        } => {
            let t = Table::load(&data, &label)?;
            let staging = xai::output::Staging::begin(&out)?;
            let cfg = GamConfig {
                interactions,
                bags,
                seed,
                ..GamConfig::default()
            };
            let gam = fit_gam(&t.rows, &t.labels, &t.names, &cfg)?;
            let mut order: Vec<usize> = (0..gam.terms.len()).collect();
            order.sort_by(|&a, &b| gam.terms[b].importance.total_cmp(&gam.terms[a].importance));
            let names = gam.term_names();
            println!("intercept {:+.4} (log-odds)", gam.intercept);
            println!("term importance (mean |contribution to the log-odds|):");
            let mut files = Vec::new();
            for &k in &order {
                println!("  {:<40} {:.4}", names[k], gam.terms[k].importance);
                let file: String = names[k]
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                let file = format!("shape_{k:02}_{file}.svg");
                let path = staging.path().join(&file);
                std::fs::write(&path, gam.shape_svg(k, &t.rows)?)
                    .map_err(xai::core::XaiError::io(&path))?;
                files.push(file);
            }
            let json = serde_json::json!({
                "intercept": gam.intercept,
                "terms": gam.terms.iter().zip(&names).zip(&files).map(|((term, name), file)| serde_json::json!({
                    "name": name, "features": term.features, "importance": term.importance,
                    "bin_edges": term.bins.iter().map(|b| b.edges.clone()).collect::<Vec<_>>(),
                    "scores": term.scores, "plot": file,
                })).collect::<Vec<_>>(),
                "settings": {"interactions": interactions, "bags": bags, "seed": seed,
                             "learning_rate": cfg.learning_rate, "max_bins": cfg.max_bins},
            });
            let page = staging.path().join("index.html");
            std::fs::write(&page, xai::glassbox_report::gam_html(&gam, &files))
                .map_err(xai::core::XaiError::io(&page))?;
            let path = staging.path().join("gam.json");
            std::fs::write(&path, serde_json::to_string_pretty(&json)?)
                .map_err(xai::core::XaiError::io(&path))?;
            staging.finish()?;
            eprintln!("model and shape plots: {}", out.display());
        }
    }
    Ok(true)
}

/// Write `index.html` and `model.json` into a staged report folder and put it in place.
fn write_report(
    staging: xai::output::Staging,
    html: &str,
    model: &serde_json::Value,
) -> anyhow::Result<()> {
    let page = staging.path().join("index.html");
    std::fs::write(&page, html).map_err(xai::core::XaiError::io(&page))?;
    let path = staging.path().join("model.json");
    std::fs::write(&path, serde_json::to_string_pretty(model)?)
        .map_err(xai::core::XaiError::io(&path))?;
    staging.finish()?;
    Ok(())
}
