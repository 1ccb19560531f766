//! The URL table and the `@connections` path: any method, path and header the network can
//! carry resolves to exactly one endpoint without panicking, and a connection id is only
//! accepted when it decodes to a well-formed id.
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use streamgate_emulator::gateway::http::decode_segment;
use streamgate_emulator::gateway::origin::AllowedOrigins;
use streamgate_emulator::gateway::urls::{Endpoint, Surface, resolve};
use streamgate_emulator::ids::is_well_formed;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let extra = parts.next();
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    for surface in [
        Surface {
            stage: "dev",
            chat: true,
            voice: true,
            secrets: true,
            issuer: true,
            metrics: true,
        },
        Surface {
            stage: "dev",
            chat: false,
            voice: true,
            secrets: false,
            issuer: false,
            metrics: false,
        },
    ] {
        for upgrade in [false, true] {
            if let Endpoint::Management { raw_id } =
                resolve(&method, path, upgrade, extra, &surface)
            {
                assert!(surface.chat);
                if let Some(id) = decode_segment(&raw_id) {
                    let _ = is_well_formed(&id);
                }
            }
        }
    }
    let _ = AllowedOrigins::default().admits(extra.map(str::as_bytes));
    let _ = streamgate_voice_relay::protocol::is_language_tag(path);
});
