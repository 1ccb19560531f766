//! Ids shaped like API Gateway's: 16 characters of base64 ending in `=` (11 random bytes),
//! e.g. `R1kmxc2VNjMCFIA=`.

use base64::Engine;
use rand::RngCore;

/// A fresh connection, request or message id.
pub fn new_id() -> String {
    let mut bytes = [0u8; 11];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A fresh API id: 10 lower-case letters and digits, like `dl7ptocha9`.
pub fn new_api_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

/// A fresh Lambda request id (a version-4 UUID).
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Whether `id` could be a connection id this server made (used to answer 400 on malformed
/// ids in the management API).
pub fn is_well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_look_like_api_gateway_ids_and_are_unique() {
        let ids: HashSet<String> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            assert_eq!(id.len(), 16);
            assert!(id.ends_with('=') && !id.ends_with("=="), "{id}");
            assert!(is_well_formed(id));
        }
        assert_eq!(new_api_id().len(), 10);
        assert!(!is_well_formed("a b"));
        assert!(!is_well_formed(""));
    }
}
