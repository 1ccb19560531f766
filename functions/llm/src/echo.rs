//! The built-in echo provider: streams the input back word by word, with no network and no
//! key. It is the default, so everything runs on a fresh machine. In a conversation it shows
//! what it was given: the echo of the new message ends with the previous one
//! (` (before, you said: "...")`), so a client can see the history reached the model.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream;
use streamgate_contract::Usage;
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
        let prompt_words = request.system.iter().map(|s| words(s).len()).sum::<usize>()
            + request
                .messages
                .iter()
                .map(|m| words(&m.text).len())
                .sum::<usize>();
        let pieces = words(&text);
        let count = pieces.len() as u64;
        let input_tokens = prompt_words as u64;
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
                output_tokens: count,
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

    #[tokio::test]
    async fn echoes_the_input_with_usage() {
        let p = EchoProvider::new(Duration::ZERO);
        let events: Vec<_> = p
            .stream(&LlmRequest::ask(None, "what is on the menu", 10))
            .await
            .unwrap()
            .collect()
            .await;
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                Ok(LlmEvent::Delta(d)) => Some(d.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "what is on the menu");
        assert_eq!(
            events.last(),
            Some(&Ok(LlmEvent::Usage(Usage {
                input_tokens: 5,
                output_tokens: 5
            })))
        );
    }

    #[tokio::test]
    async fn in_a_conversation_the_echo_shows_the_previous_message() {
        use streamgate_core::ports::ChatMessage;
        let p = EchoProvider::new(Duration::ZERO);
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
            max_tokens: 10,
        };
        let events: Vec<_> = p.stream(&request).await.unwrap().collect().await;
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                Ok(LlmEvent::Delta(d)) => Some(d.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, r#"second (before, you said: "first question")"#);
        let Some(Ok(LlmEvent::Usage(u))) = events.last() else {
            panic!("no usage")
        };
        assert_eq!(u.input_tokens, 7, "every word of the prompt counts");
    }
}
