//! Every contract function has its Lambda binary, and every binary serves a contract
//! function.

use std::collections::BTreeSet;

use streamgate_contract::Function;
use streamgate_tests::workspace_root;

#[test]
fn every_contract_function_has_its_binary() {
    let manifest = workspace_root().join("functions/lambda/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    // [[bin]] tables: name = "...", path = "...".
    let mut bins = Vec::new();
    for table in text.split("[[bin]]").skip(1) {
        let field = |key: &str| {
            table
                .lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix(key)
                        .and_then(|r| r.trim().strip_prefix('='))
                })
                .map(|v| v.trim().trim_matches('"').to_owned())
                .unwrap_or_else(|| panic!("a [[bin]] without {key}"))
        };
        bins.push((field("name"), field("path")));
    }
    let declared: BTreeSet<&str> = bins.iter().map(|(n, _)| n.as_str()).collect();
    let expected: BTreeSet<&str> = Function::ALL.iter().map(|f| f.spec().binary).collect();
    assert_eq!(
        declared, expected,
        "binaries of functions/lambda vs the contract"
    );
    for (name, path) in &bins {
        let function = Function::from_binary(name).unwrap();
        let source =
            std::fs::read_to_string(workspace_root().join("functions/lambda").join(path)).unwrap();
        // Route functions name their variant; the authorizer has its own entry point.
        let variant = if function.is_authorizer() {
            "streamgate_lambda::authorizer::main".to_owned()
        } else {
            format!("Function::{function:?}")
        };
        assert!(source.contains(&variant), "{path} serves {variant}");
    }
}
