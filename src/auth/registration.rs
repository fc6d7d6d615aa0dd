//! The one check every sign-up path makes (password registration today; an OIDC sign-up
//! tomorrow): may this address open an account under the operator's policy
//! (`domain::registration::Policy`)? An invite-only server asks whether some organization has
//! a pending invitation for it.

use worker::D1Database;

use crate::domain::registration::Policy;
use crate::domain::Email;
use crate::error::{ApiError, ApiResult};
use crate::store::invitations;

/// 403 `registration_closed` (saying why) unless `email` may open an account.
pub async fn admit(db: &D1Database, policy: &Policy, email: &Email, now: i64) -> ApiResult<()> {
    let invited =
        policy.needs_invitation() && invitations::is_pending_for(db, email.key(), now).await?;
    policy
        .admits(email, invited)
        .map_err(ApiError::RegistrationClosed)
}
