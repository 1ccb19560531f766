//! What a `history` or `conversations` page holds: as much as fits one frame once encoded.
//! API Gateway refuses a post over 128 KB, and what counts is the frame as sent, so the text
//! is measured after JSON escaping (a quote or a newline takes two bytes, a control character
//! six), never by its raw length. A lone turn too big even alone is cut until it fits.
//! Pure: frames in, frames out.

use streamgate_contract::ServerFrame;
use streamgate_contract::conversation::{ConversationSummary, Turn, cut_to};
use streamgate_contract::limits::MESSAGE_PAYLOAD_MAX_BYTES;

/// The most bytes a frame to a client may take once encoded (API Gateway's post limit).
pub(crate) const FRAME_MAX_BYTES: usize = MESSAGE_PAYLOAD_MAX_BYTES;

/// The `history` frame for `conversation_id`: the newest of `newest_first` that fit one
/// frame, oldest first, with the cursor to the turns before them.
pub(super) fn history(
    request_id: String,
    conversation_id: String,
    newest_first: Vec<Turn>,
) -> ServerFrame {
    // The frame without its turns, with the longest cursor a turn number makes.
    let envelope = ServerFrame::History {
        request_id: request_id.clone(),
        conversation_id: conversation_id.clone(),
        turns: Vec::new(),
        next_cursor: Some(u64::MAX.to_string()),
    }
    .to_json()
    .len();
    let budget = FRAME_MAX_BYTES.saturating_sub(envelope);
    let mut turns = Vec::new();
    let mut used = 0;
    for mut turn in newest_first {
        // A comma between two turns.
        let size = encoded_len(&turn) + usize::from(!turns.is_empty());
        if used + size > budget {
            if turns.is_empty() {
                shrink(&mut turn, budget);
                turns.push(turn);
            }
            break;
        }
        used += size;
        turns.push(turn);
    }
    turns.reverse();
    let next_cursor = turns
        .first()
        .filter(|t| t.turn > 1)
        .map(|t| t.turn.to_string());
    ServerFrame::History {
        request_id,
        conversation_id,
        turns,
        next_cursor,
    }
}

/// The `conversations` frame: the first of `page` that fit one frame, and the cursor to the
/// rest when some were left (`more`: the store has others after `page`).
pub(super) fn conversations(
    request_id: String,
    mut page: Vec<ConversationSummary>,
    more: bool,
) -> ServerFrame {
    let mut more = more;
    loop {
        let next_cursor = more
            .then(|| page.last().map(|c| c.conversation_id.clone()))
            .flatten();
        let frame = ServerFrame::Conversations {
            request_id: request_id.clone(),
            conversations: page.clone(),
            next_cursor,
        };
        // A summary holds at most a short title, so this gives way at once, if ever.
        if page.len() <= 1 || frame.to_json().len() <= FRAME_MAX_BYTES {
            return frame;
        }
        page.pop();
        more = true;
    }
}

/// The bytes `turn` takes in a frame.
fn encoded_len(turn: &Turn) -> usize {
    serde_json::to_vec(turn).map_or(usize::MAX, |v| v.len())
}

/// Cuts `turn`'s message and answer, each in proportion, until the turn takes at most
/// `budget` bytes encoded (escaping makes the encoded size only roughly proportional, so it
/// measures again after each cut).
fn shrink(turn: &mut Turn, budget: usize) {
    loop {
        let size = encoded_len(turn);
        let text = turn.user.len() + turn.answer.len();
        if size <= budget || text == 0 {
            return;
        }
        let keep = |len: usize| (len as u128 * budget as u128 / size as u128) as usize;
        let user = keep(turn.user.len()).min(turn.user.len().saturating_sub(1));
        let answer = keep(turn.answer.len()).min(turn.answer.len().saturating_sub(1));
        turn.user = cut_to(&turn.user, user).to_owned();
        turn.answer = cut_to(&turn.answer, answer).to_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(n: u64, text: &str) -> Turn {
        Turn {
            turn: n,
            user: text.to_owned(),
            answer: text.to_owned(),
            stop_reason: None,
            at: 1_700_000_000_000,
            request_id: "r".into(),
        }
    }

    fn frame_len(f: &ServerFrame) -> usize {
        f.to_json().len()
    }

    fn turns_of(f: &ServerFrame) -> &[Turn] {
        match f {
            ServerFrame::History { turns, .. } => turns,
            _ => panic!("not a history frame"),
        }
    }

    #[test]
    fn escape_heavy_turns_are_paged_by_their_encoded_size() {
        // 20 KB of control characters: 120 KB once escaped, a page of its own.
        let control = "\u{1}".repeat(20 * 1024);
        let quotes = "\"\\\n".repeat(7 * 1024);
        let newest_first = vec![turn(3, &control), turn(2, &quotes), turn(1, "plain")];
        let f = history("req".into(), "c".into(), newest_first);
        assert!(frame_len(&f) <= FRAME_MAX_BYTES, "{}", frame_len(&f));
        let turns = turns_of(&f);
        assert_eq!(turns.len(), 1, "the newest fills the page");
        assert!(turns[0].user.len() < control.len(), "cut to fit");
        assert!(!turns[0].user.is_empty());
        let ServerFrame::History { next_cursor, .. } = &f else {
            unreachable!()
        };
        assert_eq!(next_cursor.as_deref(), Some("3"));
    }

    #[test]
    fn a_page_is_filled_to_the_edge_and_no_further() {
        // Turns of about 30 KB encoded: four fit 128 KB, five do not.
        let text = "a\"".repeat(5 * 1024);
        let newest_first: Vec<_> = (1..=6).rev().map(|n| turn(n, &text)).collect();
        let f = history("req".into(), "c".into(), newest_first);
        let turns = turns_of(&f);
        assert_eq!(turns.len(), 4);
        assert_eq!(turns[0].turn, 3, "oldest first, the newest kept");
        assert!(frame_len(&f) <= FRAME_MAX_BYTES);
        let one_more = frame_len(&f) + encoded_len(&turns[0]) + 1;
        assert!(one_more > FRAME_MAX_BYTES, "a fifth would not have fit");
        // Plain small turns all fit, with no cursor on the first page.
        let f = history("r".into(), "c".into(), vec![turn(2, "x"), turn(1, "y")]);
        assert_eq!(turns_of(&f).len(), 2);
        assert!(matches!(
            f,
            ServerFrame::History {
                next_cursor: None,
                ..
            }
        ));
    }

    #[test]
    fn a_lone_turn_of_any_text_is_cut_to_fit() {
        for text in [
            "\u{0}".repeat(200 * 1024),
            "é".repeat(100 * 1024),
            "\\".repeat(150 * 1024),
            "a".repeat(300 * 1024),
        ] {
            let f = history("req".into(), "c".into(), vec![turn(7, &text)]);
            assert!(frame_len(&f) <= FRAME_MAX_BYTES, "{}", frame_len(&f));
            assert!(
                frame_len(&f) > FRAME_MAX_BYTES * 9 / 10,
                "cut no more than needed"
            );
        }
    }

    #[test]
    fn a_conversations_list_gives_way_to_the_frame_limit() {
        let summary = |i: usize, title: String| ConversationSummary {
            conversation_id: format!("c{i}"),
            title,
            created_at: 0,
            turns: 1,
        };
        let page: Vec<_> = (0..50).map(|i| summary(i, "\u{1}".repeat(1000))).collect();
        let f = conversations("r".into(), page, false);
        assert!(frame_len(&f) <= FRAME_MAX_BYTES);
        let ServerFrame::Conversations {
            conversations: listed,
            next_cursor,
            ..
        } = &f
        else {
            unreachable!()
        };
        assert!(listed.len() < 50);
        assert_eq!(
            next_cursor.as_deref(),
            listed.last().map(|c| c.conversation_id.as_str()),
            "the rest is on the next page"
        );
        let small: Vec<_> = (0..3).map(|i| summary(i, "t".into())).collect();
        let f = conversations("r".into(), small, false);
        assert!(matches!(
            f,
            ServerFrame::Conversations {
                next_cursor: None,
                ..
            }
        ));
    }
}
