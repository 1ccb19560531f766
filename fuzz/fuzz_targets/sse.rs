//! The server-sent events parser the LLM providers read upstream streams with, fed the input
//! in pieces whose sizes come from the input itself: it may not panic, must respect its event
//! size limit, and must give the same events however the bytes are split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamgate_llm::sse::SseParser;

const LIMIT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let whole = {
        let mut p = SseParser::new(LIMIT);
        match p.feed(body) {
            Ok(mut events) => {
                events.extend(p.finish());
                Some(events)
            }
            Err(_) => None,
        }
    };
    let step = usize::from(split.max(1));
    let mut p = SseParser::new(LIMIT);
    let mut pieces = Vec::new();
    let mut failed = false;
    for chunk in body.chunks(step) {
        match p.feed(chunk) {
            Ok(events) => pieces.extend(events),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    if !failed {
        pieces.extend(p.finish());
    }
    if let (Some(whole), false) = (whole, failed) {
        assert_eq!(
            format!("{whole:?}"),
            format!("{pieces:?}"),
            "split at {step}"
        );
    }
});
