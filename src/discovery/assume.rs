//! A source's `role_arn`: credentials from STS AssumeRole, starting from the default chain,
//! kept until five minutes before they expire and then asked for again.
//!
//! Why our own call rather than the SDK's `AssumeRoleProvider`: a credentials provider's
//! failure reaches the EC2 call as a dispatch failure, which would read "EC2 API unreachable";
//! calling STS ourselves keeps its answer (`AccessDenied` on the trust policy, throttling, no
//! route) and names the role in it.

use std::time::{Duration, SystemTime};

use aws_sdk_ec2::config::Credentials;

use super::DiscoveryError;
use super::ec2::classify;
use crate::config::AssumeRole;

/// What the SDK's credentials are labelled with (never the keys themselves).
const PROVIDER_NAME: &str = "bedrock-link-assume-role";
/// Credentials are asked for again this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// The session length asked for: STS's default, and what a role allows unless lowered.
const SESSION: Duration = Duration::from_secs(3600);

/// One role's current credentials and the STS client that renews them.
pub struct RoleCredentials {
    sts: aws_sdk_sts::Client,
    role: AssumeRole,
    current: Option<Credentials>,
}

impl RoleCredentials {
    /// `base` is the source's SDK configuration without its EC2 endpoint: STS has its own
    /// (regional, or `AWS_ENDPOINT_URL_STS`), and the default chain's credentials.
    pub fn new(base: &aws_config::SdkConfig, role: &AssumeRole) -> Self {
        Self {
            sts: aws_sdk_sts::Client::new(base),
            role: role.clone(),
            current: None,
        }
    }

    /// The role's credentials, and whether they are new since the last call.
    pub async fn get(&mut self) -> Result<(Credentials, bool), DiscoveryError> {
        if let Some(c) = &self.current
            && !needs_renewal(c.expiry(), SystemTime::now())
        {
            return Ok((c.clone(), false));
        }
        let fresh = self.assume().await?;
        self.current = Some(fresh.clone());
        Ok((fresh, true))
    }

    async fn assume(&self) -> Result<Credentials, DiscoveryError> {
        let role = &self.role;
        let reply = self
            .sts
            .assume_role()
            .role_arn(&role.arn)
            .role_session_name(&role.session_name)
            .set_external_id(role.external_id.clone())
            .duration_seconds(SESSION.as_secs() as i32)
            .send()
            .await
            .map_err(|e| classify("AssumeRole", e).for_role(&role.arn))?;
        let Some(c) = reply.credentials() else {
            let m = format!("{}: the reply has no credentials", role.arn);
            return Err(DiscoveryError::from_parts("AssumeRole", None, m, false));
        };
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            PROVIDER_NAME,
        ))
    }
}

/// Credentials without an expiry never need renewing; others do from `RENEW_BEFORE` before it.
fn needs_renewal(expiry: Option<SystemTime>, now: SystemTime) -> bool {
    expiry.is_some_and(|at| now + RENEW_BEFORE >= at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_renewed_five_minutes_before_they_expire() {
        let now = SystemTime::now();
        let at = |secs| Some(now + Duration::from_secs(secs));
        assert!(!needs_renewal(at(3600), now));
        assert!(!needs_renewal(at(301), now));
        assert!(needs_renewal(at(300), now));
        assert!(needs_renewal(at(10), now));
        assert!(needs_renewal(Some(now - Duration::from_secs(1)), now));
        assert!(!needs_renewal(None, now));
    }
}
