//! Which interface-endpoint services a source serves: its patterns (globs) over a service's
//! short name, as EC2 names services (`com.amazonaws.<region>.<name>`, `aws.api.<region>.<name>`).

use crate::zone::scope::glob_match;

/// The short name of an AWS service name in `region`: `com.amazonaws.<region>.bedrock-runtime`
/// gives `bedrock-runtime`; so does `aws.api.<region>.bedrock-mantle` give `bedrock-mantle`.
/// Other names (PrivateLink partner services) are their own short name.
pub fn short_name<'a>(service: &'a str, region: &str) -> &'a str {
    for prefix in ["com.amazonaws.", "aws.api."] {
        if let Some(rest) = service.strip_prefix(prefix)
            && let Some(short) = rest.strip_prefix(region).and_then(|r| r.strip_prefix('.'))
        {
            return short;
        }
    }
    service
}

/// Whether any of `patterns` matches the short name of `service`.
pub fn service_matches(patterns: &[String], service: &str, region: &str) -> bool {
    let short = short_name(service, region).to_ascii_lowercase();
    patterns.iter().any(|p| glob_match(p, &short))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        let r = "ap-southeast-2";
        assert_eq!(
            short_name("com.amazonaws.ap-southeast-2.bedrock-runtime", r),
            "bedrock-runtime"
        );
        assert_eq!(
            short_name("aws.api.ap-southeast-2.bedrock-mantle", r),
            "bedrock-mantle"
        );
        assert_eq!(
            short_name("com.amazonaws.us-east-1.bedrock", r),
            "com.amazonaws.us-east-1.bedrock"
        );
        assert_eq!(
            short_name("com.amazonaws.vpce.ap-southeast-2.vpce-svc-1", r),
            "com.amazonaws.vpce.ap-southeast-2.vpce-svc-1"
        );
        assert!(service_matches(
            &["bedrock*".into()],
            "com.amazonaws.ap-southeast-2.Bedrock-Agent",
            r
        ));
        assert!(!service_matches(
            &["bedrock*".into()],
            "com.amazonaws.ap-southeast-2.s3",
            r
        ));
    }
}
