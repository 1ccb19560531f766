//! Coalescing of answer deltas into `chunk` frames.
//!
//! API Gateway bills and throttles per message, so a handler does not post one frame per
//! token. The policy is a throttle with a leading edge: the first text after a quiet window
//! goes out at once (the first token is not delayed), later text waits until `window` has
//! passed since the previous frame or `max_bytes` have gathered, whichever comes first. One
//! frame carries at most `frame_limit` bytes; the buffer never holds more than
//! `frame_limit` bytes before the caller must stop reading and flush (backpressure).

use std::time::Duration;

use tokio::time::Instant;

/// Coalescing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoalesceSettings {
    /// Least time between two frames of one answer (unless `max_bytes` fill first).
    pub window: Duration,
    /// Bytes that make a frame worth sending before the window ends.
    pub max_bytes: usize,
    /// Most bytes of content in one frame: even text that escapes worst (a control
    /// character takes six bytes in JSON) stays under the 128 KB message limit once encoded.
    pub frame_limit: usize,
}

impl Default for CoalesceSettings {
    fn default() -> Self {
        CoalesceSettings {
            window: Duration::from_millis(50),
            max_bytes: 4096,
            frame_limit: CHUNK_TEXT_MAX_BYTES,
        }
    }
}

/// The most text in one `chunk` frame: 20 KB, which escaped six bytes to one is 120 KB, under
/// the 128 KB message limit with room for the frame around it.
pub const CHUNK_TEXT_MAX_BYTES: usize = 20 * 1024;

/// Gathers deltas and says when a frame is due.
#[derive(Debug)]
pub struct Coalescer {
    settings: CoalesceSettings,
    buffer: String,
    last_frame: Option<Instant>,
}

impl Coalescer {
    /// An empty coalescer.
    pub fn new(settings: CoalesceSettings) -> Coalescer {
        let max_bytes = settings.max_bytes.clamp(1, settings.frame_limit.max(1));
        Coalescer {
            settings: CoalesceSettings {
                max_bytes,
                frame_limit: settings.frame_limit.max(4),
                ..settings
            },
            buffer: String::new(),
            last_frame: None,
        }
    }

    /// Adds text.
    pub fn push(&mut self, delta: &str) {
        self.buffer.push_str(delta);
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// Whether the buffer holds a whole frame: stop reading until it is flushed.
    pub fn is_full(&self) -> bool {
        self.buffer.len() >= self.settings.frame_limit
    }

    /// When the waiting text is due, seen at `now` (`None` when nothing waits; `now` when
    /// it is due at once).
    pub fn due_at(&self, now: Instant) -> Option<Instant> {
        if self.buffer.is_empty() {
            return None;
        }
        match self.last_frame {
            None => Some(now),
            Some(_) if self.buffer.len() >= self.settings.max_bytes => Some(now),
            Some(t) => Some(t + self.settings.window),
        }
    }

    /// Whether a frame is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.due_at(now).is_some_and(|t| t <= now)
    }

    /// Takes the next frame's content (at most `frame_limit` bytes, cut on a character
    /// boundary), marking `now` as the time of the last frame.
    pub fn take(&mut self, now: Instant) -> Option<String> {
        if self.buffer.is_empty() {
            return None;
        }
        self.last_frame = Some(now);
        if self.buffer.len() <= self.settings.frame_limit {
            return Some(std::mem::take(&mut self.buffer));
        }
        let mut cut = self.settings.frame_limit;
        while !self.buffer.is_char_boundary(cut) {
            cut -= 1;
        }
        let rest = self.buffer.split_off(cut);
        Some(std::mem::replace(&mut self.buffer, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CoalesceSettings {
        CoalesceSettings {
            window: Duration::from_millis(50),
            max_bytes: 10,
            frame_limit: 16,
        }
    }

    #[test]
    fn first_text_goes_out_at_once_then_waits_for_the_window() {
        let mut c = Coalescer::new(settings());
        assert_eq!(c.due_at(Instant::now()), None);
        c.push("a");
        let t0 = Instant::now();
        assert!(c.is_due(t0));
        assert_eq!(c.take(t0).as_deref(), Some("a"));
        c.push("b");
        c.push("c");
        assert!(!c.is_due(t0 + Duration::from_millis(49)));
        assert_eq!(c.due_at(t0), Some(t0 + Duration::from_millis(50)));
        assert!(c.is_due(t0 + Duration::from_millis(50)));
        assert_eq!(
            c.take(t0 + Duration::from_millis(50)).as_deref(),
            Some("bc")
        );
    }

    #[test]
    fn byte_budget_overrides_the_window() {
        let mut c = Coalescer::new(settings());
        c.push("x");
        let t0 = Instant::now();
        c.take(t0);
        c.push("0123456789");
        assert!(c.is_due(t0));
    }

    #[test]
    fn frames_are_capped_on_character_boundaries() {
        let mut c = Coalescer::new(settings());
        let text = "ééééééééééé"; // 11 × 2 bytes
        c.push(text);
        assert!(c.is_full());
        let now = Instant::now();
        let first = c.take(now).unwrap();
        assert_eq!(first.len(), 16);
        let second = c.take(now).unwrap();
        assert_eq!(format!("{first}{second}"), text);
        assert!(c.is_empty());
    }
}
