//! Writes `generated/template.yaml` from the route contract.
//!
//! `synth [--check] [PATH]`: with `--check`, exits 1 when the file at PATH differs from what
//! would be written (a stale template) and writes nothing.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check_only = false;
    let mut path = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check_only = true,
            "-h" | "--help" => {
                println!(
                    "usage: synth [--check] [PATH]   (default PATH: {})",
                    infra_gen::TEMPLATE_PATH
                );
                return ExitCode::SUCCESS;
            }
            other if other.starts_with('-') => {
                eprintln!("synth: unknown option {other}");
                return ExitCode::from(2);
            }
            other => path = Some(PathBuf::from(other)),
        }
    }
    let path = path.unwrap_or_else(|| {
        let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let workspace = crate_dir.parent().unwrap_or(&crate_dir);
        workspace.join(infra_gen::TEMPLATE_PATH)
    });
    let template = infra_gen::stack::build();
    let text = infra_gen::render(&template);
    let json = template.to_json();
    let problems = infra_gen::check::check_all(&json);
    if !problems.is_empty() {
        eprintln!("synth: the generated template is unsound; nothing written:");
        for p in problems {
            eprintln!("  - {p}");
        }
        return ExitCode::FAILURE;
    }
    if check_only {
        return match std::fs::read_to_string(&path) {
            Ok(current) if current == text => {
                println!("{} is up to date", path.display());
                ExitCode::SUCCESS
            }
            Ok(_) => {
                eprintln!("{} is stale: run `just synth`", path.display());
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("cannot read {}: {e}", path.display());
                ExitCode::FAILURE
            }
        };
    }
    if let Some(dir) = path.parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    match std::fs::write(&path, &text) {
        Ok(()) => {
            println!(
                "wrote {} ({} resources)",
                path.display(),
                json["Resources"].as_object().map_or(0, |m| m.len())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
