//! `xai methods`: the method registry as a table or JSON.

#[derive(clap::Args)]
pub struct Args {
    /// Print the registry as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<bool> {
    let methods = xai::registry::METHODS;
    if args.json {
        println!("{}", serde_json::to_string_pretty(methods)?);
        return Ok(true);
    }
    for m in methods {
        let mut needs = vec![if m.needs.gradients {
            "gradients".to_string()
        } else if m.needs.tree_ensemble {
            "a tree ensemble".to_string()
        } else {
            "forward passes".to_string()
        }];
        for (needed, what) in [
            (m.needs.baseline && !m.needs.tree_ensemble, "baseline"),
            (
                m.needs.baseline && m.needs.tree_ensemble,
                "background or references",
            ),
            (m.needs.conv_layer, "conv layer"),
            (m.needs.seeded, "seed"),
        ] {
            if needed {
                needs.push(what.to_string());
            }
        }
        if let Some(max) = m.needs.max_features {
            needs.push(format!("at most {max} features"));
        }
        let aliases = if m.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also {})", m.aliases.join(", "))
        };
        println!("{:<22} {}{aliases}", m.name, m.summary);
        println!("{:<22} needs: {}", "", needs.join(", "));
    }
    Ok(true)
}
