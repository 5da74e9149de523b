//! Readable names for IR operations (`Module(Conv2d(..))` → `conv2d`).

use burn_ir::OperationIr;

/// The operation's kind in snake case, e.g. `linear`, `max_pool2d`, `add`, `reshape`.
pub fn op_kind(op: &OperationIr) -> &'static str {
    let dbg = format!("{op:?}");
    let outer_end = dbg.find('(').unwrap_or(dbg.len());
    let rest = &dbg[(outer_end + 1).min(dbg.len())..];
    let inner = rest.split('(').next().unwrap_or("");
    let variant = inner.rsplit([',', ' ']).next().unwrap_or(inner);
    let variant = if variant.is_empty() || variant.contains('{') {
        &dbg[..outer_end]
    } else {
        variant
    };
    intern(&snake(variant))
}

fn snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

// Kinds come from a closed set of enum variant names; interning keeps `Node::kind` a `&'static str`
// without leaking per call.
fn intern(s: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static SET: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = SET
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(k) = set.get(s) {
        return k;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}
