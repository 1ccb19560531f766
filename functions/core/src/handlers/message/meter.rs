//! An answer's quota: taken before the model is asked (its place among the user's answers
//! and its tokens reserved, `quota_exceeded` when either is refused) and settled after, to
//! what the provider reported. Callers without a user (a `Public` API) have no quota.

use streamgate_contract::metrics::Metric;
use streamgate_contract::{ErrorCode, ErrorFrame};
use streamgate_telemetry::count;
use tracing::{info, warn};

use super::super::stream::End;
use super::Parts;
use crate::event;
use crate::quota::{self, AnswerLease, QuotaError, Spent};

/// Takes the user's quota for an answer to a prompt of `prompt_bytes`; `Err` when refused
/// (the client was told), `Ok(None)` for a caller without a user.
pub(super) async fn meter(p: &Parts<'_>, prompt_bytes: usize) -> Result<Option<AnswerLease>, ()> {
    let Some(user) = event::user_id(p.event) else {
        return Ok(None);
    };
    let settings = &p.app.settings;
    // The answer's place is keyed by API Gateway's id of this delivery, which the client
    // cannot choose (its own requestId may repeat); the client's id only when the event has
    // none, which API Gateway never sends.
    let place = event::request_id(p.event).unwrap_or(p.request_id);
    let begun = quota::begin_answer(
        p.app.quotas.as_ref(),
        &settings.quotas,
        user,
        place,
        prompt_bytes,
        settings.max_tokens,
        crate::clock::now(),
    )
    .await;
    let frame = match begun {
        Ok(lease) => return Ok(Some(lease)),
        Err(QuotaError::Exceeded(e)) => {
            count(Metric::QuotaRefusals, &[e.quota]);
            info!("refused: {}", e.sentence);
            e.frame()
        }
        Err(QuotaError::Store(e)) => {
            warn!(error = %e, "cannot check the user's quotas");
            ErrorFrame::new(ErrorCode::Internal, "the request could not be metered")
        }
    };
    p.out
        .post_or_fail(frame.for_request(p.request_id.to_owned()))
        .await;
    Err(())
}

/// Settles the answer's quota to how it ended: the reported usage, the input estimate for
/// a failed provider, the whole reservation when the client went away.
pub(super) async fn settle(p: &Parts<'_>, lease: Option<AnswerLease>, end: &End) {
    let Some(lease) = lease else {
        return;
    };
    let spent = match end {
        End::Done(Some(usage)) | End::Cancelled(Some(usage)) => Spent::Reported(*usage),
        End::Failed(_) => Spent::Failed,
        _ => Spent::Unknown,
    };
    quota::end_answer(p.app.quotas.as_ref(), lease, spent).await;
}
