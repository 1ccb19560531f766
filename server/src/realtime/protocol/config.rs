//! The upstream session's configuration: the waiter's instructions and the GA
//! `session.update`.

use serde_json::{Value, json};

use crate::realtime::catalog::Restaurant;

/// The waiter's instructions for a restaurant, its menu and a language.
pub fn instructions(
    restaurant: &Restaurant,
    name_override: Option<&str>,
    language: &str,
) -> String {
    let name = name_override
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&restaurant.name);
    let mut menu = String::new();
    for item in &restaurant.menu {
        menu.push_str(&format!(
            "- {} ({:.2}): {}\n",
            item.name, item.price, item.description
        ));
    }
    let language = match language {
        "en" => "English".to_owned(),
        other => format!("the language with code {other:?}"),
    };
    format!(
        "You are a friendly waiter at {name}. Be warm and concise (one or two sentences). \
         Help the guest explore the menu, answer questions about dishes, and when they order, \
         call add_to_cart with the exact menu name and the quantity. Only offer dishes on the menu.\n\
         Menu:\n{menu}Speak in {language}."
    )
}

/// The GA `session.update` for a waiter session.
pub fn session_update(instructions: &str, voice: &str, transcription_model: &str) -> Value {
    json!({
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": instructions,
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": transcription_model},
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 500,
                        "create_response": true,
                        "interrupt_response": true
                    }
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": voice}
            },
            "tools": [{
                "type": "function",
                "name": "add_to_cart",
                "description": "Add a dish from the menu to the guest's cart.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "item_name": {"type": "string", "description": "Exact name of the menu item"},
                        "quantity": {"type": "integer", "minimum": 1, "description": "How many"}
                    },
                    "required": ["item_name"]
                }
            }],
            "tool_choice": "auto"
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::protocol::tests::restaurant;

    #[test]
    fn session_update_is_the_ga_shape() {
        let s = session_update("be nice", "marin", "whisper-1");
        assert_eq!(s["session"]["type"], "realtime");
        assert_eq!(
            s["session"]["audio"]["input"]["format"],
            json!({"type": "audio/pcm", "rate": 24000})
        );
        assert_eq!(s["session"]["audio"]["output"]["voice"], "marin");
        assert_eq!(
            s["session"]["audio"]["input"]["turn_detection"]["type"],
            "server_vad"
        );
        assert_eq!(s["session"]["tools"][0]["name"], "add_to_cart");
        assert!(s["session"].get("modalities").is_none(), "no beta fields");
    }

    #[test]
    fn instructions_carry_the_menu_and_language() {
        let i = instructions(&restaurant(), None, "fr");
        assert!(
            i.contains("Trattoria Sole")
                && i.contains("Mushroom Risotto (16.50)")
                && i.contains("\"fr\"")
        );
        assert!(instructions(&restaurant(), Some("Chez Moi"), "en").contains("Chez Moi"));
    }
}
