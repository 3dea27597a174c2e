//! What a discovery source claims in DNS before (and besides) the names it has found: every
//! `<service>.<region>.<domain>` and everything below, for services matching its patterns
//! (globs such as `bedrock*`), in the domains of the region's partition (`amazonaws.com` and
//! `api.aws`; `amazonaws.com.cn` and `api.amazonwebservices.com.cn` in China; ...) and any the
//! source adds. A query there is ours even with no address to give (it fails closed).

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

/// The DNS domains of a region's partition (botocore's partition data): the service domain
/// and the dual-stack one. An unknown region gets the commercial partition's.
pub fn partition_domains(region: &str) -> [&'static str; 2] {
    let prefixed = |p: &str| region.starts_with(p);
    if prefixed("cn-") {
        ["amazonaws.com.cn", "api.amazonwebservices.com.cn"]
    } else if prefixed("eusc-") {
        ["amazonaws.eu", "api.amazonwebservices.eu"]
    } else if prefixed("us-isob-") {
        ["sc2s.sgov.gov", "api.aws.scloud"]
    } else if prefixed("us-isof-") {
        ["csp.hci.ic.gov", "api.aws.hci.ic.gov"]
    } else if prefixed("us-iso-") {
        ["c2s.ic.gov", "api.aws.ic.gov"]
    } else if prefixed("eu-isoe-") {
        ["cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"]
    } else {
        ["amazonaws.com", "api.aws"]
    }
}

/// What a discovery source claims in DNS: `<service>.<region>.<domain>` and below, for
/// services matching its patterns, in each of its domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    patterns: Vec<String>,
    /// `<region>.<domain>` per domain, as lower-case labels from the right.
    suffixes: Vec<Vec<String>>,
}

impl Scope {
    /// The scope of `patterns` in `region`, in the partition's domains and `extra_domains`.
    pub fn new(region: &str, patterns: &[String], extra_domains: &[String]) -> Self {
        let domains = partition_domains(region)
            .into_iter()
            .map(str::to_string)
            .chain(extra_domains.iter().cloned());
        let mut suffixes: Vec<Vec<String>> = Vec::new();
        for domain in domains {
            let labels: Vec<String> = format!("{region}.{domain}")
                .to_ascii_lowercase()
                .split('.')
                .rev()
                .map(str::to_string)
                .collect();
            if !suffixes.contains(&labels) {
                suffixes.push(labels);
            }
        }
        Self {
            patterns: patterns.to_vec(),
            suffixes,
        }
    }

    /// Whether a lower-case name, given as its labels in order, falls in this scope: it ends
    /// in `.<region>.<domain>` and the label just left of that matches a pattern. Takes
    /// slices, so the query path can pass pieces of the query itself (no allocation).
    pub fn contains(&self, labels: &[&[u8]]) -> bool {
        self.suffixes.iter().any(|suffix| {
            let Some(service_at) = labels.len().checked_sub(suffix.len() + 1) else {
                return false;
            };
            let tail = labels[service_at + 1..].iter().rev();
            if !tail
                .zip(suffix)
                .all(|(l, want)| l.eq_ignore_ascii_case(want.as_bytes()))
            {
                return false;
            }
            std::str::from_utf8(labels[service_at])
                .is_ok_and(|service| self.patterns.iter().any(|p| glob_match(p, service)))
        })
    }
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
        // Every character is compared, not only the count.
        assert!(!glob_match("abc", "xyz"));
        assert!(!glob_match("s?s", "sta"));
        assert!(!glob_match("a*c", "abd"));
    }

    use hickory_proto::rr::Name;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn in_scope(scope: &Scope, q: &str) -> bool {
        let n = name(q);
        let labels: Vec<&[u8]> = n.iter().collect();
        scope.contains(&labels)
    }

    #[test]
    fn scopes() {
        let p = vec!["bedrock*".to_string()];
        let s = Scope::new("ap-southeast-2", &p, &[]);
        assert!(in_scope(&s, "bedrock-runtime.ap-southeast-2.amazonaws.com"));
        assert!(in_scope(
            &s,
            "x.bedrock-runtime.ap-southeast-2.amazonaws.com"
        ));
        assert!(in_scope(
            &s,
            "bedrock-runtime-fips.ap-southeast-2.amazonaws.com"
        ));
        assert!(in_scope(&s, "bedrock-mantle.ap-southeast-2.api.aws"));
        assert!(!in_scope(&s, "sts.ap-southeast-2.amazonaws.com"));
        assert!(!in_scope(&s, "bedrock.ap-southeast-2.amazonaws.com.evil"));
        assert!(!in_scope(&s, "bedrock-runtime.us-east-1.amazonaws.com"));
        assert!(!in_scope(&s, "ap-southeast-2.amazonaws.com"));
        assert!(!in_scope(&s, "bedrockap-southeast-2.amazonaws.com"));
        assert!(!in_scope(&s, "bedrock.ap-southeast-2.amazonaws.com.cn"));

        // China: its own partition's domains, never the commercial ones.
        let cn = Scope::new("cn-north-1", &p, &[]);
        assert!(in_scope(&cn, "bedrock-runtime.cn-north-1.amazonaws.com.cn"));
        assert!(in_scope(
            &cn,
            "bedrock.cn-north-1.api.amazonwebservices.com.cn"
        ));
        assert!(!in_scope(&cn, "bedrock-runtime.cn-north-1.amazonaws.com"));

        // A domain the configuration adds.
        let extra = Scope::new("us-east-1", &p, &["corp.example".to_string()]);
        assert!(in_scope(&extra, "bedrock-x.us-east-1.corp.example"));
        assert!(in_scope(&extra, "bedrock-runtime.us-east-1.amazonaws.com"));
    }
}
