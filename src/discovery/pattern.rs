//! Service patterns: globs over a service's short name (`bedrock*`), and the DNS scope they
//! claim in a region (`bedrock*.<region>.amazonaws.com` and everything below).

/// Whether `name` matches the glob `pattern` (`*` any run, `?` one character). Both are
/// compared as given; callers lower-case them.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was and how much of `name` it has swallowed so far.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

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

/// Whether a lower-case query name falls in the scope the patterns claim in `region`: its
/// label just left of `.<region>.amazonaws.com` matches a pattern. Takes the name's labels
/// from the right, so the query path can pass slices of the query itself (no allocation).
pub fn in_scope<'a>(
    patterns: &[String],
    region: &str,
    mut labels_from_right: impl Iterator<Item = &'a [u8]>,
) -> bool {
    let suffix = ["com", "amazonaws", region];
    if !suffix.iter().all(|want| {
        labels_from_right
            .next()
            .is_some_and(|l| l.eq_ignore_ascii_case(want.as_bytes()))
    }) {
        return false;
    }
    let Some(service) = labels_from_right
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
    else {
        return false;
    };
    // The labels are a lower-case name's, like the patterns.
    patterns.iter().any(|p| glob_match(p, service))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("bedrock*", "bedrock"));
        assert!(glob_match("bedrock*", "bedrock-agent-runtime"));
        assert!(!glob_match("bedrock*", "sts"));
        assert!(glob_match("*runtime", "bedrock-runtime"));
        assert!(glob_match("bedrock-*-runtime", "bedrock-agent-runtime"));
        assert!(!glob_match("bedrock-*-runtime", "bedrock-runtime"));
        assert!(glob_match("s?s", "sts"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a", ""));
        assert!(glob_match("a*b*c", "aXbYbZc"));
    }

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

    use hickory_proto::rr::Name;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn scopes() {
        let p = vec!["bedrock*".to_string()];
        let r = "ap-southeast-2";
        let in_scope = |p: &[String], r: &str, q: &str| in_scope(p, r, name(q).iter().rev());
        assert!(in_scope(
            &p,
            r,
            "bedrock-runtime.ap-southeast-2.amazonaws.com"
        ));
        assert!(in_scope(
            &p,
            r,
            "x.bedrock-runtime.ap-southeast-2.amazonaws.com"
        ));
        assert!(in_scope(
            &p,
            r,
            "bedrock-runtime-fips.ap-southeast-2.amazonaws.com"
        ));
        assert!(!in_scope(&p, r, "sts.ap-southeast-2.amazonaws.com"));
        assert!(!in_scope(
            &p,
            r,
            "bedrock.ap-southeast-2.amazonaws.com.evil"
        ));
        assert!(!in_scope(&p, r, "bedrock-runtime.us-east-1.amazonaws.com"));
        assert!(!in_scope(&p, r, "ap-southeast-2.amazonaws.com"));
        assert!(!in_scope(&p, r, "bedrockap-southeast-2.amazonaws.com"));
    }
}
