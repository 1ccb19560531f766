//! The route contract is the only place route keys are written.

use std::path::Path;

use streamgate_contract::{Route, RouteKind};
use streamgate_tests::workspace_root;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn route_keys_appear_only_in_the_contract() {
    let root = workspace_root();
    let contract = root.join("functions").join("contract");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 10, "the scan sees the workspace");
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&contract)) {
        let text = std::fs::read_to_string(file).unwrap();
        for route in Route::ALL {
            let key = route.key();
            let mut needles = vec![];
            if route.kind() == RouteKind::Action {
                // An action key is an ordinary word; flag it where it is used as an action.
                needles.push(format!("\"action\": \"{key}\""));
                needles.push(format!("\"action\":\"{key}\""));
                needles.push(format!("\\\"action\\\":\\\"{key}\\\""));
            } else {
                needles.push(format!("\"{key}\""));
            }
            for n in needles {
                if text.contains(&n) {
                    offenders.push(format!(
                        "{}: {n}",
                        file.strip_prefix(&root).unwrap().display()
                    ));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "route keys must come from streamgate_contract::Route, not literals:\n{}",
        offenders.join("\n")
    );
}
