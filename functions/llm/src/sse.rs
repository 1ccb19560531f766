//! An incremental parser of server-sent events, tolerant of what real servers send:
//! CRLF or LF or CR line ends, comments, multi-line data, a missing final blank line
//! (flushed at end of input), and llama.cpp's `error:` field.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// llama.cpp's non-standard `error:` field, if any.
    pub error: Option<String>,
}

/// The input broke the parser's size bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event is larger than {0} bytes")]
pub struct TooLarge(pub usize);

/// Turns bytes into events.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    pending: SseEvent,
    has_data: bool,
    last_was_cr: bool,
    max_event_bytes: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new(1 << 20)
    }
}

impl SseParser {
    /// A parser that refuses events larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> SseParser {
        SseParser {
            line: Vec::new(),
            pending: SseEvent::default(),
            has_data: false,
            last_was_cr: false,
            max_event_bytes,
        }
    }

    /// Feeds bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, TooLarge> {
        let mut out = Vec::new();
        for &b in bytes {
            match b {
                b'\n' if self.last_was_cr => {
                    // The LF of a CRLF: the line already ended at the CR.
                    self.last_was_cr = false;
                }
                b'\n' | b'\r' => {
                    self.last_was_cr = b == b'\r';
                    self.end_line(&mut out);
                }
                _ => {
                    self.last_was_cr = false;
                    self.line.push(b);
                    if self.line.len() + self.pending.data.len() > self.max_event_bytes {
                        return Err(TooLarge(self.max_event_bytes));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Ends the input: a last line without its line end, and a last event without its
    /// blank line, are dispatched.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.dispatch(&mut out);
        out
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // comment
        }
        let line = String::from_utf8_lossy(&line);
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&line[..], ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.pending.data.push('\n');
                }
                self.pending.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.pending.event = Some(value.to_owned()),
            "error" => self.pending.error = Some(value.to_owned()),
            _ => {} // id, retry and unknown fields
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data || self.pending.error.is_some() {
            out.push(std::mem::take(&mut self.pending));
        } else {
            self.pending = SseEvent::default();
        }
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c).unwrap());
        }
        out.extend(p.finish());
        out
    }

    fn data(d: &str) -> SseEvent {
        SseEvent {
            data: d.into(),
            ..SseEvent::default()
        }
    }

    #[test]
    fn events_split_anywhere_parse_the_same() {
        let text = b"data: {\"a\":1}\n\nevent: ping\ndata: {}\n\n: comment\ndata: x\ndata: y\n\n";
        let whole = parse_all(&[text]);
        assert_eq!(
            whole,
            vec![
                data("{\"a\":1}"),
                SseEvent {
                    event: Some("ping".into()),
                    data: "{}".into(),
                    error: None
                },
                data("x\ny"),
            ]
        );
        for cut in 1..text.len() {
            assert_eq!(
                parse_all(&[&text[..cut], &text[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn crlf_and_cr_line_ends() {
        assert_eq!(
            parse_all(&[b"data: a\r\n\r\ndata: b\r\rdata:c\n\n"]),
            vec![data("a"), data("b"), data("c")]
        );
        // A CRLF split between two reads is one line end.
        assert_eq!(parse_all(&[b"data: a\r", b"\n\r", b"\n"]), vec![data("a")]);
    }

    #[test]
    fn missing_final_blank_line_is_flushed_at_eof() {
        assert_eq!(
            parse_all(&[b"data: 1\n\ndata: [DONE]"]),
            vec![data("1"), data("[DONE]")]
        );
        assert_eq!(parse_all(&[b"data: [DONE]\n"]), vec![data("[DONE]")]);
    }

    #[test]
    fn llama_cpp_error_field() {
        let events = parse_all(&[b"error: {\"code\":500,\"message\":\"boom\"}\n\n"]);
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].error.as_deref(),
            Some("{\"code\":500,\"message\":\"boom\"}")
        );
    }

    #[test]
    fn oversize_events_are_refused() {
        let mut p = SseParser::new(16);
        assert!(p.feed(b"data: 0123456789").is_ok());
        assert_eq!(p.feed(b"abcdefgh"), Err(TooLarge(16)));
    }
}
