//! The messages sent to the model: the earlier turns that fit the history budget, then the
//! new message.
//!
//! Turns are taken newest first while their estimated tokens
//! ([`estimated_tokens`] of the message and the answer) fit the budget; the first turn that does
//! not fit ends the history, so the oldest go first and no turn is split. A turn whose answer
//! is empty (nothing was delivered) is left out: every provider requires alternating,
//! non-empty messages.

use streamgate_contract::conversation::{Turn, estimated_tokens};

use crate::ports::{ChatMessage, Role};

/// Estimated tokens of a turn.
pub fn turn_tokens(turn: &Turn) -> u64 {
    estimated_tokens(turn.user.len() + turn.answer.len())
}

/// The messages for `input` after `newest_first` (turns as the store returns them), within
/// `budget` estimated tokens of history; and how many turns were replayed.
pub fn messages(newest_first: &[Turn], budget: u64, input: &str) -> (Vec<ChatMessage>, usize) {
    let mut kept = Vec::new();
    let mut spent = 0u64;
    for turn in newest_first {
        if turn.answer.trim().is_empty() || turn.user.trim().is_empty() {
            continue;
        }
        let cost = turn_tokens(turn);
        if spent + cost > budget {
            break;
        }
        spent += cost;
        kept.push(turn);
    }
    let replayed = kept.len();
    let mut out = Vec::with_capacity(replayed * 2 + 1);
    for turn in kept.into_iter().rev() {
        out.push(ChatMessage {
            role: Role::User,
            text: turn.user.clone(),
        });
        out.push(ChatMessage {
            role: Role::Assistant,
            text: turn.answer.clone(),
        });
    }
    out.push(ChatMessage {
        role: Role::User,
        text: input.to_owned(),
    });
    (out, replayed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(n: u64, user: &str, answer: &str) -> Turn {
        Turn {
            turn: n,
            user: user.into(),
            answer: answer.into(),
            stop_reason: None,
            at: 0,
            request_id: format!("r{n}"),
        }
    }

    fn texts(m: &[ChatMessage]) -> Vec<(&'static str, &str)> {
        m.iter()
            .map(|m| (m.role.as_str(), m.text.as_str()))
            .collect()
    }

    #[test]
    fn turns_are_replayed_oldest_first_then_the_new_message() {
        let newest_first = [turn(2, "q2", "a2"), turn(1, "q1", "a1")];
        let (m, n) = messages(&newest_first, 1000, "q3");
        assert_eq!(n, 2);
        assert_eq!(
            texts(&m),
            [
                ("user", "q1"),
                ("assistant", "a1"),
                ("user", "q2"),
                ("assistant", "a2"),
                ("user", "q3")
            ]
        );
    }

    #[test]
    fn trimming_drops_the_oldest_whole_turns() {
        // 8 bytes each: 2 estimated tokens per turn.
        let newest_first = [
            turn(3, "qqq3", "aaa3"),
            turn(2, "qqq2", "aaa2"),
            turn(1, "qqq1", "aaa1"),
        ];
        let (m, n) = messages(&newest_first, 5, "new");
        assert_eq!(n, 2, "two turns fit 5 tokens, the oldest does not");
        assert_eq!(m[0].text, "qqq2");
        let (m, n) = messages(&newest_first, 0, "new");
        assert_eq!((n, texts(&m)), (0, vec![("user", "new")]));
        // A big turn in the middle stops the history there: no gap in what is replayed.
        let big = "x".repeat(400);
        let newest_first = [
            turn(3, "q3", "a3"),
            turn(2, &big, "a2"),
            turn(1, "q1", "a1"),
        ];
        let (_, n) = messages(&newest_first, 20, "new");
        assert_eq!(n, 1);
    }

    #[test]
    fn turns_with_nothing_delivered_are_left_out() {
        let newest_first = [turn(2, "q2", ""), turn(1, "q1", "a1")];
        let (m, n) = messages(&newest_first, 1000, "q3");
        assert_eq!(n, 1);
        assert_eq!(
            texts(&m),
            [("user", "q1"), ("assistant", "a1"), ("user", "q3")]
        );
    }
}
