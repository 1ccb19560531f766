//! Every metric streamgate emits: its name, kind, unit, labels and who emits it. The code
//! records metrics only through this list (`streamgate_telemetry::count`/`observe` take a
//! [`Metric`]), and the stacks' dashboards are built from it, so a dashboard widget cannot name
//! a metric that nothing emits.
//!
//! Names are `snake_case` and the same on both sinks: CloudWatch (EMF, namespace
//! [`NAMESPACE`], dimension [`SERVICE_DIMENSION`]) and Prometheus (prefixed
//! [`PROMETHEUS_PREFIX`], counters suffixed `_total`). Label values are bounded sets (route
//! keys, error codes, provider names, reasons): a connection or user id is never a label,
//! because each label value becomes a billed CloudWatch metric.
//!
//! Stored conversations and `cancel` are not built yet; when they are, their metrics join this
//! list (turns written, history tokens replayed, answers cancelled as an `answers` outcome,
//! time from `cancel` to `done`) and the chat dashboard shows them with no other change.

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Streamgate";

/// The dimension every metric carries on CloudWatch: the stack's name (so one dashboard shows
/// one stack's functions together). Label dimensions come in addition, as a second set.
pub const SERVICE_DIMENSION: &str = "Service";

/// The prefix of every Prometheus metric name.
pub const PROMETHEUS_PREFIX: &str = "streamgate_";

/// What a metric accumulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A count that only goes up.
    Counter,
    /// A distribution of values.
    Histogram,
}

/// A CloudWatch unit (only the ones used; each is a name CloudWatch accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of things.
    Count,
    /// Seconds.
    Seconds,
}

impl Unit {
    /// CloudWatch's name of the unit.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

/// Who emits a metric, and so whose dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitter {
    /// The chat functions (Lambda) or the local server hosting them.
    Chat,
    /// Whatever checks sign-in tokens: the `$connect` authorizer, the local server, the relay.
    Identity,
    /// The voice relay.
    Relay,
}

/// Latency buckets (seconds) for answers and sessions.
const ANSWER_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Buckets (seconds) for per-frame latencies.
const FRAME_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];
/// Buckets (seconds) for voice sessions.
const SESSION_BUCKETS: &[f64] = &[10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

macro_rules! metrics {
    ($( $help:literal $variant:ident => $name:literal, $kind:ident, $unit:ident, $emitter:ident, [$($label:literal),*], $buckets:expr; )+) => {
        /// Every metric.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Metric {
            $( #[doc = $help] $variant, )+
        }

        impl Metric {
            /// Every metric, in the order dashboards and `/metrics` list them.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant),+];

            /// The metric's name on both sinks (before Prometheus' prefix and suffix).
            pub const fn name(self) -> &'static str {
                match self { $(Metric::$variant => $name),+ }
            }

            /// Counter or histogram.
            pub const fn kind(self) -> Kind {
                match self { $(Metric::$variant => Kind::$kind),+ }
            }

            /// The CloudWatch unit.
            pub const fn unit(self) -> Unit {
                match self { $(Metric::$variant => Unit::$unit),+ }
            }

            /// Who emits it.
            pub const fn emitter(self) -> Emitter {
                match self { $(Metric::$variant => Emitter::$emitter),+ }
            }

            /// Its label keys (each a bounded set of values).
            pub const fn labels(self) -> &'static [&'static str] {
                match self { $(Metric::$variant => &[$($label),*]),+ }
            }

            /// A histogram's Prometheus bucket bounds (empty for counters).
            pub const fn buckets(self) -> &'static [f64] {
                match self { $(Metric::$variant => $buckets),+ }
            }

            /// One line saying what it counts.
            pub const fn help(self) -> &'static str {
                match self { $(Metric::$variant => $help),+ }
            }
        }
    };
}

metrics! {
    "Connections accepted (the connect route)."
    ConnectionsOpened => "connections_opened", Counter, Count, Chat, [], &[];
    "Connections cleaned up (the disconnect route)."
    ConnectionsClosed => "connections_closed", Counter, Count, Chat, [], &[];
    "Frames handled, by route."
    Messages => "messages", Counter, Count, Chat, ["route"], &[];
    "Answers finished, by outcome (done, error, abandoned)."
    Answers => "answers", Counter, Count, Chat, ["outcome"], &[];
    "Error frames sent to clients, by stable code."
    Errors => "errors", Counter, Count, Chat, ["code"], &[];
    "Prompt tokens the model provider reported, by provider."
    TokensIn => "tokens_in", Counter, Count, Chat, ["provider"], &[];
    "Answer tokens the model provider reported, by provider."
    TokensOut => "tokens_out", Counter, Count, Chat, ["provider"], &[];
    "Time from the request to the model's first text, by provider."
    FirstToken => "first_token_seconds", Histogram, Seconds, Chat, ["provider"], ANSWER_BUCKETS;
    "Time from the request to the answer's last frame, by provider."
    AnswerDuration => "answer_seconds", Histogram, Seconds, Chat, ["provider"], ANSWER_BUCKETS;
    "Frames posted to clients through @connections."
    Posts => "posts", Counter, Count, Chat, [], &[];
    "Posts answered 410 Gone (the client had left)."
    Gone => "gone", Counter, Count, Chat, [], &[];
    "Retries, by what was retried (post, model)."
    Retries => "retries", Counter, Count, Chat, ["what"], &[];
    "Requests refused by a per-user quota, by quota (connections, answers, tokens)."
    QuotaRefusals => "quota_refusals", Counter, Count, Chat, ["quota"], &[];
    "Sign-in tokens accepted."
    SignIns => "sign_ins", Counter, Count, Identity, [], &[];
    "Sign-in tokens refused, by reason."
    SignInRefusals => "sign_in_refusals", Counter, Count, Identity, ["reason"], &[];
    "Voice sessions started."
    VoiceSessions => "voice_sessions", Counter, Count, Relay, [], &[];
    "Length of finished voice sessions."
    VoiceSessionDuration => "voice_session_seconds", Histogram, Seconds, Relay, [], SESSION_BUCKETS;
    "Voice sessions refused at the handshake, by reason."
    VoiceRefusals => "voice_refusals", Counter, Count, Relay, ["reason"], &[];
    "Failures of the realtime model, by kind."
    VoiceUpstreamErrors => "voice_upstream_errors", Counter, Count, Relay, ["kind"], &[];
    "Tool calls the voice model made, by tool."
    VoiceToolCalls => "voice_tool_calls", Counter, Count, Relay, ["tool"], &[];
    "Time an audio chunk from the model spends in the relay before the browser has it."
    VoiceAudioLatency => "voice_audio_chunk_seconds", Histogram, Seconds, Relay, [], FRAME_BUCKETS;
}

impl Metric {
    /// The metric of a name, if it is one.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// The metrics `emitter` emits.
    pub fn of(emitter: Emitter) -> impl Iterator<Item = Metric> {
        Metric::ALL
            .iter()
            .copied()
            .filter(move |m| m.emitter() == emitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_histograms_have_buckets() {
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
        for m in Metric::ALL {
            assert!(
                m.name().chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                m.name()
            );
            assert!(!m.help().is_empty());
            assert_eq!(m.kind() == Kind::Histogram, !m.buckets().is_empty());
            assert!(m.buckets().windows(2).all(|w| w[0] < w[1]));
            assert_eq!(Metric::from_name(m.name()), Some(*m));
        }
    }

    #[test]
    fn no_label_can_carry_an_identity() {
        for m in Metric::ALL {
            for l in m.labels() {
                assert!(
                    ![
                        "connection",
                        "connection_id",
                        "user",
                        "user_id",
                        "request_id"
                    ]
                    .contains(l),
                    "{} labels {l}",
                    m.name()
                );
            }
        }
    }
}
