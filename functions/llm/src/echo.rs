//! The built-in echo provider: streams the input back word by word, with no network and no
//! key. It is the default, so everything runs on a fresh machine. In a conversation it shows
//! what it was given: the echo of the new message ends with the previous one
//! (` (before, you said: "...")`), so a client can see the history reached the model. Its
//! tokens are the estimate the quotas reserve (bytes divided by four, rounded up), and it
//! stops at `max_tokens` as a model does.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream;
use streamgate_contract::Usage;
use streamgate_contract::conversation::{BYTES_PER_TOKEN, estimated_tokens};
use streamgate_core::ports::Role;
use streamgate_core::{LlmError, LlmEvent, LlmProvider, LlmRequest, LlmStream};

/// Characters of the previous message the echo repeats.
const PREVIOUS_SHOWN_CHARS: usize = 60;

/// Echoes the input.
#[derive(Debug, Clone)]
pub struct EchoProvider {
    delay: Duration,
}

impl EchoProvider {
    /// Waits `delay` before each word (zero for benchmarks).
    pub fn new(delay: Duration) -> EchoProvider {
        EchoProvider { delay }
    }
}

impl Default for EchoProvider {
    fn default() -> Self {
        EchoProvider::new(Duration::from_millis(20))
    }
}

/// Splits text into words, each with the white space before it, so the pieces concatenate
/// back to the text.
pub fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for c in text.chars() {
        if c.is_whitespace() && in_word {
            out.push(std::mem::take(&mut current));
            in_word = false;
        } else if !c.is_whitespace() {
            in_word = true;
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The longest start of `text` whose estimated tokens are at most `max_tokens`, cut at a
/// character boundary.
fn within_tokens(text: &str, max_tokens: u32) -> &str {
    let mut end = text.len().min(max_tokens as usize * BYTES_PER_TOKEN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[async_trait]
impl LlmProvider for EchoProvider {
    fn name(&self) -> &'static str {
        "echo"
    }

    async fn stream(&self, request: &LlmRequest) -> Result<LlmStream, LlmError> {
        let mut text = request.input().to_owned();
        let previous = request
            .messages
            .iter()
            .rev()
            .filter(|m| m.role == Role::User)
            .nth(1);
        if let Some(previous) = previous {
            let shown: String = previous.text.chars().take(PREVIOUS_SHOWN_CHARS).collect();
            text.push_str(&format!(" (before, you said: {shown:?})"));
        }
        // Counted as the quota's reservation estimates tokens, and cut at `max_tokens` as a
        // model stops there: what a budget measured with the echo spends is what it reserved.
        let input_tokens = estimated_tokens(request.prompt_bytes());
        let text = within_tokens(&text, request.max_tokens);
        let output_tokens = estimated_tokens(text.len());
        let pieces = words(text);
        let delay = self.delay;
        let deltas = stream::iter(pieces).then(move |w| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(LlmEvent::Delta(w))
        });
        let usage = stream::once(async move {
            Ok(LlmEvent::Usage(Usage {
                input_tokens,
                output_tokens,
            }))
        });
        Ok(deltas.chain(usage).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_concatenate_back_to_the_text() {
        for text in [
            "hello world",
            "  lead and trail  ",
            "one",
            "",
            "a\n\tb  c",
            "héllo wörld",
        ] {
            assert_eq!(words(text).concat(), text);
        }
        assert_eq!(words("hello big world"), vec!["hello", " big", " world"]);
    }

    /// The echo's answer to `request` and the usage it reported last.
    async fn echo(request: &LlmRequest) -> (String, Usage) {
        let events: Vec<_> = EchoProvider::new(Duration::ZERO)
            .stream(request)
            .await
            .unwrap()
            .collect()
            .await;
        let mut text = String::new();
        let mut usage = None;
        for e in events {
            match e.unwrap() {
                LlmEvent::Delta(d) => text.push_str(&d),
                LlmEvent::Usage(u) => usage = Some(u),
            }
        }
        (text, usage.expect("a usage event"))
    }

    #[tokio::test]
    async fn echoes_the_input_with_usage() {
        let (text, usage) = echo(&LlmRequest::ask(None, "what is on the menu", 10)).await;
        assert_eq!(text, "what is on the menu");
        assert_eq!(
            usage,
            Usage {
                input_tokens: 5,
                output_tokens: 5
            },
            "19 bytes each way, four to a token"
        );
    }

    #[tokio::test]
    async fn stops_at_max_tokens_and_counts_as_the_reservation_does() {
        let input = "héllo wörld and everything after it, which is long enough";
        for max_tokens in [0, 1, 2, 3, 5, 100] {
            let request = LlmRequest::ask(Some("be brief".into()), input, max_tokens);
            let (text, u) = echo(&request).await;
            assert!(input.starts_with(&text), "{text:?}");
            assert!(
                u.output_tokens <= u64::from(max_tokens),
                "{u:?} for {max_tokens}"
            );
            assert_eq!(u.output_tokens, estimated_tokens(text.len()));
            assert_eq!(u.input_tokens, estimated_tokens(request.prompt_bytes()));
            // What the quota reserved covers what the answer spent, and the echo uses all of
            // its allowance unless the input is shorter.
            assert!(
                u.input_tokens + u.output_tokens
                    <= streamgate_core::quota::reservation(request.prompt_bytes(), max_tokens)
            );
            let whole = estimated_tokens(input.len());
            assert_eq!(u.output_tokens, u64::from(max_tokens).min(whole));
        }
    }

    #[tokio::test]
    async fn in_a_conversation_the_echo_shows_the_previous_message() {
        use streamgate_core::ports::ChatMessage;
        let said = |role, text: &str| ChatMessage {
            role,
            text: text.into(),
        };
        let request = LlmRequest {
            system: Some("be brief".into()),
            messages: vec![
                said(Role::User, "first question"),
                said(Role::Assistant, "first answer"),
                said(Role::User, "second"),
            ],
            max_tokens: 100,
        };
        let (text, u) = echo(&request).await;
        assert_eq!(text, r#"second (before, you said: "first question")"#);
        assert_eq!(
            u.input_tokens, 10,
            "every byte of the prompt counts: 40 bytes, four to a token"
        );
    }
}
