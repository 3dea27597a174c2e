//! Why discovery failed: a pass (sorted by what an operator does about it), the AWS client's
//! own resolver, or starting the sources at all.

/// A boxed error from a dependency, kept as the source of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a pass failed, sorted by what an operator does about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    #[error(
        "{operation}: access denied ({code}): {message}; the role needs ec2:DescribeVpcEndpoints, ec2:DescribeVpcEndpointServices and ec2:DescribeNetworkInterfaces"
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
    #[error("{operation}: EC2 API unreachable: {message}")]
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
