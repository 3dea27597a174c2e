//! Names the configuration holds: override host names (DNS, optionally `*.`) and AWS region
//! names.

use hickory_proto::rr::Name;

/// Validates an override name: a DNS name, optionally with one leading `*.` label.
pub fn parse_override_name(s: &str) -> Result<Name, String> {
    let body = s.strip_prefix("*.").unwrap_or(s);
    if body.is_empty() || body == "." {
        return Err(format!("{s:?} is not a host name"));
    }
    if body.contains('*') {
        return Err(format!(
            "{s:?}: a wildcard is only allowed as the whole first label (\"*.name\")"
        ));
    }
    let valid_chars = body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !valid_chars {
        return Err(format!(
            "{s:?} has characters that are not allowed in a host name"
        ));
    }
    let name = Name::from_ascii(s).map_err(|e| format!("{s:?} is not a valid DNS name: {e}"))?;
    let mut name = name.to_lowercase();
    name.set_fqdn(true);
    if name.num_labels() < 2 {
        return Err(format!("{s:?}: refusing to override a top-level name"));
    }
    Ok(name)
}

/// `ap-southeast-2`, `us-gov-west-1`, `cn-north-1`, `eu-central-2`...
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lower_alnum = |p: &&str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    parts.len() >= 3
        && parts.iter().all(lower_alnum)
        && parts[0].len() == 2
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}
