//! The sinks and the log format, on a registry and a subscriber of their own.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use streamgate_contract::metrics::{Metric, NAMESPACE, SERVICE_DIMENSION};

use crate::logs::{Format, LogSettings, lambda_subscriber};
use crate::{Registry, count, observe};

fn recording(registry: &Registry, f: impl FnOnce()) {
    metrics::with_local_recorder(registry, f);
}

#[test]
fn emf_reports_each_value_once_under_the_service_and_label_dimensions() {
    let registry = Registry::new();
    recording(&registry, || {
        count(Metric::Errors, &["llm_auth"]);
        count(Metric::Errors, &["llm_auth"]);
        count(Metric::Posts, &[]);
        observe(Metric::FirstToken, 0.25, &["echo"]);
        observe(Metric::FirstToken, 0.5, &["echo"]);
    });
    let lines = registry.emf_lines("chat", 1_700_000_000_000);
    let objects: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 3, "one object per label set: {lines:#?}");
    let errors = objects.iter().find(|o| o.get("errors").is_some()).unwrap();
    assert_eq!(errors["errors"], 2);
    assert_eq!(errors["code"], "llm_auth");
    assert_eq!(errors[SERVICE_DIMENSION], "chat");
    let directive = &errors["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], NAMESPACE);
    assert_eq!(
        directive["Dimensions"],
        serde_json::json!([[SERVICE_DIMENSION], [SERVICE_DIMENSION, "code"]])
    );
    assert_eq!(directive["Metrics"][0]["Unit"], "Count");
    let latency = objects
        .iter()
        .find(|o| o.get("first_token_seconds").is_some())
        .unwrap();
    assert_eq!(
        latency["first_token_seconds"],
        serde_json::json!([0.25, 0.5])
    );
    assert_eq!(
        latency["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
        "Seconds"
    );
    let posts = objects.iter().find(|o| o.get("posts").is_some()).unwrap();
    assert_eq!(
        posts["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([[SERVICE_DIMENSION]])
    );
    assert_eq!(posts["_aws"]["Timestamp"], 1_700_000_000_000u64);

    assert!(
        registry.emf_lines("chat", 1).is_empty(),
        "nothing new, no line"
    );
    recording(&registry, || count(Metric::Errors, &["llm_auth"]));
    let again: Value = serde_json::from_str(&registry.emf_lines("chat", 2)[0]).unwrap();
    assert_eq!(again["errors"], 1, "only what came since the last flush");
}

#[test]
fn a_histogram_holds_a_bounded_number_of_values_between_flushes() {
    let registry = Registry::new();
    recording(&registry, || {
        for i in 0..250 {
            observe(Metric::VoiceAudioLatency, f64::from(i) / 1000.0, &[]);
        }
    });
    assert!(registry.wants_flush());
    let line: Value = serde_json::from_str(&registry.emf_lines("relay", 1)[0]).unwrap();
    assert_eq!(
        line["voice_audio_chunk_seconds"].as_array().unwrap().len(),
        crate::PENDING_VALUES
    );
    assert_eq!(line["voice_audio_chunk_seconds_unreported"], 150);
    assert!(!registry.wants_flush());
    // Prometheus still counts every value.
    assert!(
        registry
            .prometheus()
            .contains("streamgate_voice_audio_chunk_seconds_count 250")
    );
}

#[test]
fn names_outside_the_list_are_not_recorded() {
    let registry = Registry::new();
    recording(&registry, || {
        metrics::counter!("made_up").increment(1);
        metrics::histogram!(Metric::Posts.name()).record(1.0);
    });
    assert!(registry.emf_lines("chat", 1).is_empty());
}

#[test]
fn prometheus_text_lists_every_metric_with_buckets_and_escaped_labels() {
    let registry = Registry::new();
    recording(&registry, || {
        count(Metric::Messages, &["say \"hi\"\n"]);
        observe(Metric::AnswerDuration, 0.3, &["echo"]);
    });
    let text = registry.prometheus();
    for m in Metric::ALL {
        assert!(
            text.contains(&format!("# TYPE {} ", crate::prometheus_name(*m))),
            "{}",
            m.name()
        );
    }
    assert!(text.contains("streamgate_connections_opened_total 0"));
    assert!(
        text.contains(r#"streamgate_messages_total{route="say \"hi\"\n"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"streamgate_answer_seconds_bucket{provider="echo",le="0.25"} 0"#));
    assert!(text.contains(r#"streamgate_answer_seconds_bucket{provider="echo",le="0.5"} 1"#));
    assert!(text.contains(r#"streamgate_answer_seconds_bucket{provider="echo",le="+Inf"} 1"#));
    assert!(text.contains(r#"streamgate_answer_seconds_count{provider="echo"} 1"#));
}

/// A writer into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn lambda_lines(vars: &[(&str, &str)], f: impl FnOnce()) -> String {
    let lookup = |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    let settings = LogSettings::lambda(&lookup);
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = lambda_subscriber(settings, move || writer.clone());
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
}

fn invocation() {
    let runtime = tracing::info_span!("Lambda runtime invoke", requestId = "aws-1");
    let _r = runtime.enter();
    let handler = tracing::info_span!(
        "handler",
        route = "message",
        connectionId = "c-1",
        userId = "u-1"
    );
    let _h = handler.enter();
    tracing::debug!("debug line");
    tracing::info!(tokens = 3, "answer finished");
    tracing::warn!("slow");
    tracing::error!(code = "llm_auth", "the model provider failed");
}

#[test]
fn lambda_json_lines_have_timestamp_level_message_and_the_ids_at_the_top() {
    let out = lambda_lines(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")], invocation);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "info and above: {out}");
    let first = &lines[0];
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(keys[..3], ["timestamp", "level", "message"]);
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["message"], "answer finished");
    assert_eq!(first["requestId"], "aws-1");
    assert_eq!(first["connectionId"], "c-1");
    assert_eq!(first["userId"], "u-1");
    assert_eq!(first["route"], "message");
    assert_eq!(first["tokens"], 3);
    let ts = first["timestamp"].as_str().unwrap();
    assert!(rfc3339(ts), "{ts}");
}

fn rfc3339(ts: &str) -> bool {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok()
}

#[test]
fn the_lambda_level_hides_info_keeps_errors_and_the_ids() {
    let out = lambda_lines(
        &[("AWS_LAMBDA_LOG_LEVEL", "WARN"), ("RUST_LOG", "trace")],
        invocation,
    );
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let levels: Vec<&str> = lines.iter().map(|l| l["level"].as_str().unwrap()).collect();
    assert_eq!(levels, ["WARN", "ERROR"]);
    assert_eq!(lines[1]["requestId"], "aws-1", "spans still carry the ids");
    assert_eq!(lines[1]["code"], "llm_auth");

    let debug = lambda_lines(&[("RUST_LOG", "debug")], invocation);
    assert_eq!(
        debug.lines().count(),
        4,
        "RUST_LOG where Lambda sets no level"
    );
    let fatal = lambda_lines(&[("AWS_LAMBDA_LOG_LEVEL", "fatal")], invocation);
    assert_eq!(fatal.lines().count(), 1);
}

#[test]
fn lambda_text_format_is_plain() {
    let out = lambda_lines(&[("AWS_LAMBDA_LOG_FORMAT", "Text")], invocation);
    assert!(out.contains("answer finished"));
    assert!(!out.contains('\u{1b}'), "no colour: {out:?}");
    assert!(serde_json::from_str::<Value>(out.lines().next().unwrap()).is_err());
    assert_eq!(LogSettings::lambda(&|_| None).format, Format::Json);
}

#[test]
fn colour_only_on_a_terminal_without_no_color() {
    assert!(crate::logs::colour(true, None));
    assert!(crate::logs::colour(true, Some("")));
    assert!(!crate::logs::colour(true, Some("1")));
    assert!(!crate::logs::colour(false, None));
}

#[test]
fn emf_lines_from_another_process_are_recorded_as_here() {
    let source = Registry::new();
    recording(&source, || {
        count(Metric::Errors, &["llm_auth"]);
        observe(Metric::FirstToken, 0.2, &["echo"]);
    });
    let local = Registry::new();
    for line in source.emf_lines("chat", 1) {
        assert!(local.ingest_emf(&line));
    }
    assert!(!local.ingest_emf(r#"{"timestamp":"x","level":"INFO","message":"_aws"}"#));
    assert!(!local.ingest_emf("plain text"));
    // Names and label keys outside the list are ignored.
    assert!(local.ingest_emf(r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"x","Dimensions":[["Service","who"]],"Metrics":[{"Name":"made_up"},{"Name":"posts"}]}]},"who":"u-1","made_up":5,"posts":2}"#));
    let text = local.prometheus();
    assert!(
        text.contains(r#"streamgate_errors_total{code="llm_auth"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"streamgate_first_token_seconds_count{provider="echo"} 1"#));
    assert!(text.contains("streamgate_posts_total 2"), "{text}");
    assert!(!text.contains("made_up") && !text.contains("u-1"));
}

#[test]
fn the_number_of_series_is_bounded() {
    let registry = Registry::new();
    for i in 0..(crate::registry::MAX_SERIES + 10) {
        let line = format!(
            r#"{{"_aws":{{"Timestamp":1,"CloudWatchMetrics":[{{"Namespace":"x","Dimensions":[["Service","code"]],"Metrics":[{{"Name":"errors"}}]}}]}},"code":"c{i}","errors":1}}"#
        );
        registry.ingest_emf(&line);
    }
    assert_eq!(
        registry
            .prometheus()
            .matches("streamgate_errors_total{")
            .count(),
        crate::registry::MAX_SERIES
    );
}

#[test]
fn a_servers_trace_stays_off_for_the_dependencies_that_log_headers() {
    for asked in [
        "trace",
        "tungstenite=trace,trace",
        "trace,tungstenite=trace",
    ] {
        let shown = crate::logs::capped_env(Some(asked)).to_string();
        assert!(shown.contains("tungstenite=info"), "{asked}: {shown}");
        assert!(!shown.contains("tungstenite=trace"), "{asked}: {shown}");
        assert_eq!(
            crate::logs::capped_env(Some(asked)).max_level_hint(),
            Some(tracing::level_filters::LevelFilter::TRACE),
            "our own trace logs stay on"
        );
    }
}
