//! A signed-in user's voice: who the authorizer named for a connection, and one step of their
//! daily voice-seconds budget charged (`streamgate_contract::relay::VOICE_CHARGE_STEP`, the
//! first at the handshake, then one per step while the session lives).

use streamgate_contract::quota;
use streamgate_core::QuotaStore;
use streamgate_emulator::events::ConnectionInfo;
use tracing::warn;

use super::admission::Refusal;

/// The user the authorizer named for this connection, if any.
pub fn user_of(info: &ConnectionInfo) -> Option<&str> {
    info.authorizer
        .as_ref()
        .and_then(|c| c.get(streamgate_contract::access::CONTEXT_USER_ID))
        .and_then(|v| v.as_str())
        .filter(|u| !u.is_empty())
}

/// Charges one step of `user`'s `daily_seconds` (none when it is 0).
pub async fn charge(
    quotas: &dyn QuotaStore,
    daily_seconds: u64,
    user: &str,
) -> Result<(), Refusal> {
    if daily_seconds == 0 {
        return Ok(());
    }
    let now = streamgate_core::clock::now();
    let step = streamgate_contract::relay::VOICE_CHARGE_STEP.as_secs();
    match quotas
        .spend(
            &quota::voice_key(user, now),
            step,
            daily_seconds,
            quota::daily_ttl(now),
        )
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(Refusal::BudgetSpent {
            retry_after_seconds: quota::seconds_to_next_utc_day(now),
        }),
        Err(e) => {
            warn!(error = %e, "cannot charge the voice budget");
            Err(Refusal::BudgetUnavailable)
        }
    }
}
