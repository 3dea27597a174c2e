//! Why discovery failed: a pass (sorted by what an operator does about it), the AWS client's
//! own resolver, or starting the sources at all.

/// A boxed error from a dependency, kept as the source of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a pass failed, sorted by what an operator does about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    #[error(
        "{operation}: access denied ({code}): {message}; {}",
        access_hint(operation)
    )]
    AccessDenied {
        operation: &'static str,
        code: String,
        message: String,
    },
    #[error("{operation}: throttled by the EC2 API ({code}): {message}")]
    Throttled {
        operation: &'static str,
        code: String,
        message: String,
    },
    #[error("{operation}: {} unreachable: {message}", api_name(operation))]
    Unreachable {
        operation: &'static str,
        message: String,
    },
    #[error("{operation}: {message}")]
    Other {
        operation: &'static str,
        code: Option<String>,
        message: String,
    },
}

impl DiscoveryError {
    /// Classifies an EC2 API failure by its error code (or by the request never arriving).
    pub fn from_parts(
        operation: &'static str,
        code: Option<String>,
        message: String,
        unreachable: bool,
    ) -> Self {
        const DENIED: [&str; 5] = [
            "UnauthorizedOperation",
            "AccessDenied",
            "AccessDeniedException",
            "AuthFailure",
            "InvalidClientTokenId",
        ];
        const THROTTLED: [&str; 4] = [
            "RequestLimitExceeded",
            "Throttling",
            "ThrottlingException",
            "TooManyRequestsException",
        ];
        match code {
            _ if unreachable => Self::Unreachable { operation, message },
            Some(c) if DENIED.contains(&c.as_str()) => Self::AccessDenied {
                operation,
                code: c,
                message,
            },
            Some(c) if THROTTLED.contains(&c.as_str()) => Self::Throttled {
                operation,
                code: c,
                message,
            },
            code => Self::Other {
                operation,
                code,
                message,
            },
        }
    }

    /// The same error, its message starting with the role it was about (`AssumeRole`).
    pub fn for_role(mut self, role_arn: &str) -> Self {
        let (Self::AccessDenied { message, .. }
        | Self::Throttled { message, .. }
        | Self::Unreachable { message, .. }
        | Self::Other { message, .. }) = &mut self;
        *message = format!("{role_arn}: {message}");
        self
    }

    /// The API call that failed (`AssumeRole` for the role step of a source with `role_arn`).
    pub fn operation(&self) -> &'static str {
        match self {
            Self::AccessDenied { operation, .. }
            | Self::Throttled { operation, .. }
            | Self::Unreachable { operation, .. }
            | Self::Other { operation, .. } => operation,
        }
    }

    /// The metric label of this kind of failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AccessDenied { .. } => "access_denied",
            Self::Throttled { .. } => "throttled",
            Self::Unreachable { .. } => "unreachable",
            Self::Other { .. } => "other",
        }
    }

    /// The API error code, when the API gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::AccessDenied { code, .. } | Self::Throttled { code, .. } => Some(code),
            Self::Other { code, .. } => code.as_deref(),
            Self::Unreachable { .. } => None,
        }
    }
}

/// The API an operation belongs to.
fn api_name(operation: &str) -> &'static str {
    if operation == "AssumeRole" {
        "STS API"
    } else {
        "EC2 API"
    }
}

/// What a denied call needs: the EC2 permissions, or (for the role step) the trust policy.
fn access_hint(operation: &str) -> &'static str {
    if operation == "AssumeRole" {
        "the role's trust policy must allow sts:AssumeRole by the credentials bedrock-link starts from (with the external ID, if it asks for one), and those credentials need sts:AssumeRole on the role"
    } else {
        "the role needs ec2:DescribeVpcEndpoints, ec2:DescribeVpcEndpointServices and ec2:DescribeNetworkInterfaces"
    }
}

/// The AWS client's own name lookups (see [`super::resolver`]).
#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    #[error("cannot build the resolver for the AWS client: {0}")]
    Build(#[source] BoxError),
    #[error("{name}: {source}")]
    Lookup {
        name: String,
        #[source]
        source: BoxError,
    },
}

/// Why the discovery sources could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "this build has no EC2 discovery (built without the \"aws\" feature): remove the [[source]] sections, or use a full build"
    )]
    NotBuilt,
    #[error(transparent)]
    Resolver(#[from] ResolverError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        let e = DiscoveryError::from_parts(
            "DescribeVpcEndpoints",
            Some("UnauthorizedOperation".into()),
            "no".into(),
            false,
        );
        assert_eq!(e.kind(), "access_denied");
        assert!(e.to_string().contains("ec2:DescribeNetworkInterfaces"));
        let e = DiscoveryError::from_parts(
            "X",
            Some("RequestLimitExceeded".into()),
            "slow down".into(),
            false,
        );
        assert_eq!(e.kind(), "throttled");
        assert_eq!(
            DiscoveryError::from_parts("X", None, "refused".into(), true).kind(),
            "unreachable"
        );
        assert_eq!(
            DiscoveryError::from_parts(
                "X",
                Some("InvalidParameterValue".into()),
                "?".into(),
                false
            )
            .kind(),
            "other"
        );
    }

    #[test]
    fn a_denied_assume_role_names_the_role_and_its_trust_policy() {
        let role = "arn:aws:iam::222222222222:role/discovery";
        let e = DiscoveryError::from_parts(
            "AssumeRole",
            Some("AccessDenied".into()),
            "no".into(),
            false,
        )
        .for_role(role);
        assert_eq!(e.kind(), "access_denied");
        assert_eq!(e.operation(), "AssumeRole");
        let text = e.to_string();
        assert!(
            text.contains(role) && text.contains("trust policy"),
            "{text}"
        );
        assert!(!text.contains("ec2:Describe"), "{text}");
    }

    #[test]
    fn the_api_error_code_is_kept_whatever_the_class() {
        let code = |code: Option<&str>, unreachable| {
            DiscoveryError::from_parts("X", code.map(String::from), "m".into(), unreachable)
                .code()
                .map(String::from)
        };
        assert_eq!(
            code(Some("AuthFailure"), false).as_deref(),
            Some("AuthFailure")
        );
        assert_eq!(
            code(Some("Throttling"), false).as_deref(),
            Some("Throttling")
        );
        // What the discovery of service names falls back on, one service at a time.
        assert_eq!(
            code(Some("InvalidServiceName"), false).as_deref(),
            Some("InvalidServiceName")
        );
        assert_eq!(code(None, false), None);
        assert_eq!(code(Some("RequestTimeout"), true), None, "never arrived");
    }
}
