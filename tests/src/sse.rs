//! Upstream stream bodies in the providers' exact wire formats, for mock servers: OpenAI
//! Chat Completions chunks and Anthropic Messages events.

/// An OpenAI-compatible `chat.completion.chunk` carrying `content`.
pub fn openai_chunk(content: &str) -> String {
    format!(
        "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
        serde_json::to_string(content).expect("a string serializes")
    )
}

/// The chunk with `finish_reason: "stop"`.
pub const OPENAI_STOP: &str =
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";

/// The end of an OpenAI stream.
pub const OPENAI_DONE: &str = "data: [DONE]\n\n";

/// The usage chunk (`stream_options.include_usage`): no choices, token counts.
pub fn openai_usage(input: u64, output: u64) -> String {
    format!(
        "data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":{input},\"completion_tokens\":{output},\"total_tokens\":{}}}}}\n\n",
        input + output
    )
}

/// An Anthropic Messages event.
pub fn anthropic_event(name: &str, data: serde_json::Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}
