//! Writes the generated templates: `generated/template.yaml` (the chat stack, from the route
//! contract) and `generated/relay.yaml` (the voice relay's stack).
//!
//! `synth [--check] [DIR]`: DIR is the workspace root (default: this one); with `--check`,
//! exits 1 when a file differs from what would be written (a stale template) and writes
//! nothing.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check_only = false;
    let mut root = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check_only = true,
            "-h" | "--help" => {
                println!(
                    "usage: synth [--check] [DIR]   (writes DIR/{} and DIR/{})",
                    infra_gen::TEMPLATE_PATH,
                    infra_gen::stacks::relay::RELAY_TEMPLATE_PATH
                );
                return ExitCode::SUCCESS;
            }
            other if other.starts_with('-') => {
                eprintln!("synth: unknown option {other}");
                return ExitCode::from(2);
            }
            other => root = Some(PathBuf::from(other)),
        }
    }
    let root = root.unwrap_or_else(|| {
        let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        crate_dir.parent().unwrap_or(&crate_dir).to_path_buf()
    });
    let stacks = [
        (infra_gen::TEMPLATE_PATH, infra_gen::stacks::chat::build()),
        (
            infra_gen::stacks::relay::RELAY_TEMPLATE_PATH,
            infra_gen::stacks::relay::build(),
        ),
    ];
    let mut status = ExitCode::SUCCESS;
    for (relative, template) in stacks {
        let path = root.join(relative);
        let text = infra_gen::render(&template);
        let json = template.to_json();
        let problems = infra_gen::check::check_all(&json);
        if !problems.is_empty() {
            eprintln!("synth: {relative} is unsound; nothing written:");
            for p in problems {
                eprintln!("  - {p}");
            }
            status = ExitCode::FAILURE;
            continue;
        }
        if check_only {
            match std::fs::read_to_string(&path) {
                Ok(current) if current == text => println!("{} is up to date", path.display()),
                Ok(_) => {
                    eprintln!("{} is stale: run `just synth`", path.display());
                    status = ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("cannot read {}: {e}", path.display());
                    status = ExitCode::FAILURE;
                }
            }
            continue;
        }
        if let Some(dir) = path.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            eprintln!("cannot create {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        match std::fs::write(&path, &text) {
            Ok(()) => println!(
                "wrote {} ({} resources)",
                path.display(),
                json["Resources"].as_object().map_or(0, |m| m.len())
            ),
            Err(e) => {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    status
}
