//! The voice page in Debian's Chromium with a fake microphone (a WAV spoken by espeak-ng at
//! test time), against the relay and the mock Realtime service.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use streamgate_core::ApiKey;
use streamgate_core::memory::MemoryStore;
use streamgate_tests::local::{browser_tools, start_voice};
use streamgate_tests::mock_realtime::MockRealtime;
use streamgate_tests::workspace_root;
use streamgate_voice_relay::{Catalog, RealtimeConfig};

/// Samples of a 16-bit mono WAV file, and its sample rate.
fn read_wav(path: &Path) -> (Vec<i16>, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[0..4], b"RIFF", "a WAV file");
    let rate = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
    let mut i = 12;
    while i + 8 <= bytes.len() {
        let id = &bytes[i..i + 4];
        let len = u32::from_le_bytes(bytes[i + 4..i + 8].try_into().unwrap()) as usize;
        if id == b"data" {
            let end = (i + 8 + len).min(bytes.len());
            let samples = bytes[i + 8..end]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return (samples, rate);
        }
        i += 8 + len;
    }
    panic!("no data chunk");
}

/// Seconds between the first and the last loud sample.
fn voiced_span(samples: &[i16], rate: u32) -> f64 {
    let loud = |s: &&i16| s.unsigned_abs() > 1500;
    let first = samples.iter().position(|s| loud(&s));
    let last = samples.iter().rposition(|s| loud(&s));
    match (first, last) {
        (Some(a), Some(b)) => (b - a) as f64 / f64::from(rate),
        _ => 0.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_voice_page_streams_the_microphone_and_shows_transcript_and_cart() {
    let chromium = browser_tools();
    let root = workspace_root();
    let artifacts = root.join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let wav = artifacts.join("order.wav");
    let spoken = "Hello. I would like two tiramisu, please.";
    let status = std::process::Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(&wav)
        .arg(spoken)
        .status()
        .expect("espeak-ng runs: run `just setup` (it installs espeak-ng)");
    assert!(status.success());
    let (wav_samples, wav_rate) = read_wav(&wav);
    let wav_span = voiced_span(&wav_samples, wav_rate);

    let mock = MockRealtime::start("sk-voice").await;
    let mut config = RealtimeConfig::new(Catalog::sample(), ApiKey::new("sk-voice"));
    config.base_url = mock.url();
    let (server, _) = start_voice(config, Arc::new(MemoryStore::new())).await;
    let node = tokio::process::Command::new("node")
        .arg(root.join("tests/node/voice-page.mjs"))
        .arg(format!("http://{}/voice", server.addr))
        .arg(&wav)
        .arg("Tiramisu")
        .arg(&artifacts)
        .env("CHROMIUM", &chromium)
        .current_dir(root.join("tests/node"))
        .kill_on_drop(true)
        .output();
    let script = async {
        // Wait for the whole utterance (plus a margin), then answer as the model would.
        let wanted = ((wav_samples.len() as f64 / f64::from(wav_rate)) * 48_000.0) as usize;
        mock.wait(Duration::from_secs(30), "the microphone audio", |m| {
            m.audio_bytes() >= wanted + 24_000
        })
        .await;
        mock.send(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "u1"}));
        mock.send(json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1", "transcript": spoken}));
        mock.send(json!({"type": "response.function_call_arguments.done", "name": "add_to_cart", "call_id": "c1", "arguments": "{\"item_name\":\"tiramisu\",\"quantity\":2}"}));
        let tone: Vec<u8> = (0..4800u32)
            .flat_map(|i| (((f64::from(i) * 0.1).sin() * 3000.0) as i16).to_le_bytes())
            .collect();
        use base64::Engine;
        let delta = base64::engine::general_purpose::STANDARD.encode(tone);
        for _ in 0..5 {
            mock.send(json!({"type": "response.output_audio.delta", "delta": delta}));
        }
        mock.send(json!({"type": "response.output_audio_transcript.done", "transcript": "Two tiramisu, coming up!"}));
        mock.send(json!({"type": "response.done", "response": {"status": "completed"}}));
        // Half a second of answer is queued in the page; the guest talks over it.
        tokio::time::sleep(Duration::from_millis(150)).await;
        mock.send(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 4000, "item_id": "u2"}));
    };
    let (output, ()) = tokio::join!(node, script);
    let output = output.expect("node runs (install Node.js)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    server.stop().await;
    assert!(
        output.status.success(),
        "the voice page test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The relay delivered valid PCM16 at 24 kHz holding the spoken utterance.
    assert_eq!(mock.problems(), Vec::<String>::new());
    let pcm: Vec<i16> = mock
        .audio()
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let received_span = voiced_span(&pcm, 24_000);
    println!("voiced span: WAV {wav_span:.2} s, received {received_span:.2} s");
    assert!(
        (received_span - wav_span).abs() < 0.35 * wav_span.max(0.5),
        "the received audio holds {received_span:.2} s of speech, the WAV {wav_span:.2} s"
    );
    let appended = mock.received_of("input_audio_buffer.append");
    let chunk_bytes: Vec<usize> = appended
        .iter()
        .take(5)
        .map(|e| e["audio"].as_str().unwrap().len() * 3 / 4)
        .collect();
    assert!(
        chunk_bytes.iter().all(|b| *b == 4800),
        "100 ms chunks of PCM16 at 24 kHz: {chunk_bytes:?}"
    );
}
