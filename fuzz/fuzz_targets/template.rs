//! The template reader `streamgate-server --template` starts from: any text, YAML or JSON,
//! with any intrinsics, is read into an API or a list of problems, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamgate_template_host::template::{ReadOptions, read};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let options = ReadOptions {
        parameters: Default::default(),
        pseudo: Default::default(),
        base_dir: std::path::PathBuf::from("."),
        api_id: "abcdef1234".into(),
    };
    if let Err(problems) = read(text, &options) {
        assert!(!problems.is_empty());
    }
});
