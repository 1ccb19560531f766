//! The route contract is the only place route keys are written (API Gateway's three reserved
//! keys also live in the server's `api::reserved`, which any template's API uses; the contract
//! must agree with them).

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
    let reserved = root.join("emulator/src/api/mod.rs");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 10, "the scan sees the workspace");
    let mut offenders = Vec::new();
    for file in files
        .iter()
        .filter(|f| !f.starts_with(&contract) && **f != reserved)
    {
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

#[test]
fn the_contracts_special_routes_are_api_gateways_reserved_keys() {
    use streamgate_emulator::api::{kind_of, reserved};
    assert_eq!(Route::Connect.key(), reserved::CONNECT);
    assert_eq!(Route::Disconnect.key(), reserved::DISCONNECT);
    assert_eq!(Route::Default.key(), reserved::DEFAULT);
    for route in Route::ALL {
        assert_eq!(kind_of(route.key()), route.kind(), "{route:?}");
    }
}

/// Every metric of the contract's list is recorded somewhere in the code that runs (not only
/// declared): the dashboards show the whole list, so a metric nothing records would be an
/// empty widget. (The code cannot record a name outside the list: the recorder drops it.)
#[test]
fn every_listed_metric_is_recorded_by_the_code() {
    use streamgate_contract::metrics::Metric;
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in [
        "functions",
        "voice-relay",
        "emulator",
        "server",
        "template-host",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    let contract = root.join("functions").join("contract");
    let telemetry = root.join("functions").join("telemetry");
    let code: String = files
        .iter()
        .filter(|f| !f.starts_with(&contract) && !f.starts_with(&telemetry))
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let unrecorded: Vec<String> = Metric::ALL
        .iter()
        .map(|m| format!("Metric::{m:?}"))
        .filter(|needle| {
            !code.contains(&format!("{needle},")) && !code.contains(&format!("{needle}."))
        })
        .collect();
    assert!(
        unrecorded.is_empty(),
        "listed but never recorded: {unrecorded:?}"
    );
}
