//! The record table: every overridden name and its addresses, and the lookup that decides
//! whether a query name is ours and how a Route 53 private hosted zone would answer it.
//!
//! Each override `N` acts as a zone apex `N` holding A/AAAA at `N`; an override `*.N` acts as a
//! zone `N` holding a wildcard. A query name inside such a zone that has no record of its own is
//! NXDOMAIN (or the wildcard's data), exactly as a PHZ would answer.
//!
//! The table is immutable once built: a refresh builds a new one and swaps it in whole.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::rr::{LowerName, Name};

use crate::zone::scope::Scope;

/// The addresses one overridden name answers with. Empty means "in scope, nothing usable".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
    /// Every IPv4 address is down, so all of them are given (see [`crate::health`]).
    pub ipv4_all_down: bool,
    /// Every IPv6 address is down, so all of them are given.
    pub ipv6_all_down: bool,
}

impl Addresses {
    pub fn new(ipv4: Vec<Ipv4Addr>, ipv6: Vec<Ipv6Addr>) -> Self {
        Self {
            ipv4,
            ipv6,
            ..Self::default()
        }
    }

    /// Every address, IPv4 first.
    pub fn ips(&self) -> impl Iterator<Item = std::net::IpAddr> + '_ {
        let v4 = self.ipv4.iter().map(|&a| std::net::IpAddr::from(a));
        v4.chain(self.ipv6.iter().map(|&a| std::net::IpAddr::from(a)))
    }

    pub fn is_empty(&self) -> bool {
        self.ipv4.is_empty() && self.ipv6.is_empty()
    }
}

/// A host name with the addresses it answers with (empty: in scope, nothing usable), as a
/// source feeds it to the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRecord {
    pub name: String,
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
}

impl NameRecord {
    /// A name that stays ours with no address (its endpoint is gone, or the source is stale).
    pub fn unavailable(name: String) -> Self {
        Self {
            name,
            ipv4: Vec::new(),
            ipv6: Vec::new(),
        }
    }
}

/// What the table holds at one name.
#[derive(Debug, Default)]
struct Node {
    /// Records at the name itself.
    exact: Option<Arc<Addresses>>,
    /// Records of `*.name`.
    wildcard: Option<Arc<Addresses>>,
}

/// The outcome of looking a query name up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Not ours: forward it.
    NotOurs,
    /// The name has records (its own or a wildcard's).
    Records {
        addrs: Arc<Addresses>,
        /// Label count of the zone apex, for the SOA owner of a NODATA answer.
        zone_labels: u8,
    },
    /// Inside a zone of ours, but the name has no records of its own: NODATA at the apex of a
    /// wildcard-only zone.
    NoData { zone_labels: u8 },
    /// Inside a zone of ours, and the name does not exist.
    NxDomain { zone_labels: u8 },
    /// Not in the table, but inside a discovery source's scope (`bedrock*.<region>.amazonaws.com`):
    /// ours, with no usable address (not discovered yet, or no such endpoint).
    Unavailable,
}

impl Lookup {
    /// Ours, with no address to answer: not discovered yet, no such endpoint, or every
    /// address gone. `dns.on_unavailable` decides what the client gets.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Lookup::Records { addrs, .. } => addrs.is_empty(),
            Lookup::Unavailable => true,
            Lookup::NotOurs | Lookup::NoData { .. } | Lookup::NxDomain { .. } => false,
        }
    }
}

/// Immutable map from lower-case names to their records.
#[derive(Debug)]
pub struct RecordTable {
    /// Keyed by lower-case wire name (see [`wire_key`]).
    nodes: HashMap<Box<[u8]>, Node>,
    /// What the discovery sources claim beyond the names they found.
    scopes: Vec<Scope>,
    /// Unique to this table, so answers prepared from it are never used with another.
    generation: u64,
}

impl Default for RecordTable {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            nodes: HashMap::new(),
            scopes: Vec::new(),
            generation: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// A name's lower-case wire form (labels with length bytes, then the root): the table's key.
pub fn wire_key(name: &Name) -> Box<[u8]> {
    let mut key = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        key.push(label.len() as u8);
        key.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    key.push(0);
    key.into_boxed_slice()
}

impl RecordTable {
    /// Adds `name` (which may start with `*.`); a repeated name keeps the last addresses.
    pub fn insert(&mut self, name: &Name, addrs: Addresses) {
        let addrs = Arc::new(addrs);
        if name.is_wildcard() {
            self.nodes
                .entry(wire_key(&name.base_name()))
                .or_default()
                .wildcard = Some(addrs);
        } else {
            self.nodes.entry(wire_key(name)).or_default().exact = Some(addrs);
        }
    }

    /// Claims the scope of a discovery source: names its patterns can produce.
    pub fn add_scope(&mut self, scope: Scope) {
        self.scopes.push(scope);
    }

    /// This table's unique number (tables are built, then published and never changed).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of names (wildcards count once each).
    pub fn len(&self) -> usize {
        self.nodes
            .values()
            .map(|n| usize::from(n.exact.is_some()) + usize::from(n.wildcard.is_some()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.scopes.is_empty()
    }

    /// Decides how a query for `qname` is answered.
    pub fn lookup(&self, qname: &LowerName) -> Lookup {
        self.lookup_wire(&wire_key(qname))
    }

    /// [`Self::lookup`] for a lower-case, uncompressed wire name (the query path's form: no
    /// allocation). Anything that is not such a name is not ours.
    pub fn lookup_wire(&self, qname: &[u8]) -> Lookup {
        if self.is_empty() {
            return Lookup::NotOurs;
        }
        // Where each label starts; a name has at most 127 labels.
        let mut starts = [0usize; 128];
        let mut labels = 0;
        let mut pos = 0;
        while let Some(&len) = qname.get(pos) {
            if len == 0 {
                break;
            }
            if labels == starts.len() || len > 63 {
                return Lookup::NotOurs;
            }
            starts[labels] = pos;
            labels += 1;
            pos += 1 + usize::from(len);
        }
        if qname.get(pos) != Some(&0) {
            return Lookup::NotOurs;
        }
        // Walk from the name itself up to its parent zones; the closest one decides.
        // Each label's start, then the root's: the suffixes from the whole name up to ".".
        for (skipped, start) in starts[..labels].iter().copied().chain([pos]).enumerate() {
            let suffix = &qname[start..];
            let Some(node) = self.nodes.get(suffix) else {
                continue;
            };
            let here = (labels - skipped) as u8;
            let (own, none) = if skipped == 0 {
                (&node.exact, Lookup::NoData { zone_labels: here })
            } else {
                (&node.wildcard, Lookup::NxDomain { zone_labels: here })
            };
            return match own {
                Some(addrs) => Lookup::Records {
                    addrs: addrs.clone(),
                    zone_labels: here,
                },
                None => none,
            };
        }
        let mut label_slices: [&[u8]; 128] = [&[]; 128];
        for (i, &start) in starts[..labels].iter().enumerate() {
            label_slices[i] = &qname[start + 1..start + 1 + usize::from(qname[start])];
        }
        let label_slices = &label_slices[..labels];
        let claimed = self.scopes.iter().any(|scope| scope.contains(label_slices));
        if claimed {
            Lookup::Unavailable
        } else {
            Lookup::NotOurs
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_override_name;

    fn table(names: &[&str]) -> RecordTable {
        let mut t = RecordTable::default();
        for (i, n) in names.iter().enumerate() {
            t.insert(
                &parse_override_name(n).unwrap(),
                Addresses::new(vec![Ipv4Addr::new(10, 0, 0, i as u8 + 1)], vec![]),
            );
        }
        t
    }

    fn q(s: &str) -> LowerName {
        LowerName::new(&Name::from_ascii(s).unwrap())
    }

    fn first_ip(l: &Lookup) -> Option<Ipv4Addr> {
        match l {
            Lookup::Records { addrs, .. } => addrs.ipv4.first().copied(),
            _ => None,
        }
    }

    #[test]
    fn exact_subtree_and_outside() {
        let t = table(&[
            "bedrock-runtime.ap-southeast-2.amazonaws.com",
            "x.y.bedrock-runtime.ap-southeast-2.amazonaws.com",
        ]);
        assert_eq!(
            first_ip(&t.lookup(&q("BEDROCK-runtime.ap-southeast-2.amazonaws.com."))),
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(
            t.lookup(&q("a.bedrock-runtime.ap-southeast-2.amazonaws.com.")),
            Lookup::NxDomain { zone_labels: 4 }
        );
        // An empty non-terminal inside the outer zone is NXDOMAIN there too, as in a PHZ.
        assert_eq!(
            t.lookup(&q("y.bedrock-runtime.ap-southeast-2.amazonaws.com.")),
            Lookup::NxDomain { zone_labels: 4 }
        );
        assert_eq!(
            first_ip(&t.lookup(&q("x.y.bedrock-runtime.ap-southeast-2.amazonaws.com."))),
            Some(Ipv4Addr::new(10, 0, 0, 2))
        );
        assert_eq!(
            t.lookup(&q("ap-southeast-2.amazonaws.com.")),
            Lookup::NotOurs
        );
        assert_eq!(
            t.lookup(&q("bedrock.ap-southeast-2.amazonaws.com.")),
            Lookup::NotOurs
        );
        assert_eq!(t.lookup(&q(".")), Lookup::NotOurs);
    }

    #[test]
    fn scopes_claim_undiscovered_names() {
        let mut t = table(&["bedrock-runtime.ap-southeast-2.amazonaws.com"]);
        t.add_scope(Scope::new("ap-southeast-2", &["bedrock*".to_string()], &[]));
        assert!(first_ip(&t.lookup(&q("bedrock-runtime.ap-southeast-2.amazonaws.com."))).is_some());
        assert_eq!(
            t.lookup(&q("Bedrock-Agent.ap-southeast-2.amazonaws.com.")),
            Lookup::Unavailable
        );
        assert_eq!(
            t.lookup(&q("sts.ap-southeast-2.amazonaws.com.")),
            Lookup::NotOurs
        );
        assert_eq!(
            t.lookup(&q("bedrock.us-east-1.amazonaws.com.")),
            Lookup::NotOurs
        );
    }

    #[test]
    fn addresses_list_both_families_and_are_empty_only_without_either() {
        let v4 = vec![Ipv4Addr::new(10, 0, 0, 1)];
        let v6: Vec<Ipv6Addr> = vec!["fd00::1".parse().unwrap()];
        let both = Addresses::new(v4.clone(), v6.clone());
        let ips: Vec<std::net::IpAddr> = both.ips().collect();
        assert_eq!(
            ips,
            [
                std::net::IpAddr::from(Ipv4Addr::new(10, 0, 0, 1)),
                "fd00::1".parse().unwrap()
            ]
        );
        assert!(!both.is_empty());
        assert!(!Addresses::new(v4, vec![]).is_empty());
        assert!(!Addresses::new(vec![], v6).is_empty());
        assert!(Addresses::new(vec![], vec![]).is_empty());
    }

    #[test]
    fn every_table_has_a_generation_of_its_own() {
        // Answers prepared from one table are keyed by it: a later table must never share it.
        let (a, b) = (RecordTable::default(), RecordTable::default());
        assert_ne!(a.generation(), b.generation());
        assert_ne!(a.generation(), table(&[]).generation());
    }

    #[test]
    fn a_label_longer_than_63_bytes_is_never_ours() {
        let t = table(&["*.s3.us-east-1.amazonaws.com"]);
        let wire = |first: usize| {
            let mut w = vec![first as u8];
            w.extend(std::iter::repeat_n(b'a', first));
            w.extend_from_slice(&wire_key(
                &Name::from_ascii("s3.us-east-1.amazonaws.com.").unwrap(),
            ));
            w
        };
        assert!(
            first_ip(&t.lookup_wire(&wire(63))).is_some(),
            "63 bytes is a label"
        );
        assert_eq!(t.lookup_wire(&wire(64)), Lookup::NotOurs);
        assert_eq!(t.lookup_wire(&wire(65)), Lookup::NotOurs);
    }

    #[test]
    fn unavailable_means_ours_without_an_address() {
        let none = Arc::new(Addresses::new(vec![], vec![]));
        let some = Arc::new(Addresses::new(vec![Ipv4Addr::new(10, 0, 0, 1)], vec![]));
        let records = |addrs: &Arc<Addresses>| Lookup::Records {
            addrs: addrs.clone(),
            zone_labels: 1,
        };
        assert!(records(&none).is_unavailable());
        assert!(!records(&some).is_unavailable());
        assert!(Lookup::Unavailable.is_unavailable());
        assert!(!Lookup::NotOurs.is_unavailable());
        assert!(!Lookup::NoData { zone_labels: 1 }.is_unavailable());
        assert!(!Lookup::NxDomain { zone_labels: 1 }.is_unavailable());
    }

    #[test]
    fn wildcards() {
        let t = table(&[
            "*.s3.us-east-1.amazonaws.com",
            "s3.us-west-2.amazonaws.com",
            "*.s3.us-west-2.amazonaws.com",
        ]);
        assert_eq!(
            first_ip(&t.lookup(&q("bucket.s3.us-east-1.amazonaws.com."))),
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(
            first_ip(&t.lookup(&q("a.b.s3.us-east-1.amazonaws.com."))),
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(
            t.lookup(&q("s3.us-east-1.amazonaws.com.")),
            Lookup::NoData { zone_labels: 4 }
        );
        assert_eq!(
            first_ip(&t.lookup(&q("s3.us-west-2.amazonaws.com."))),
            Some(Ipv4Addr::new(10, 0, 0, 2))
        );
        assert_eq!(
            first_ip(&t.lookup(&q("b.s3.us-west-2.amazonaws.com."))),
            Some(Ipv4Addr::new(10, 0, 0, 3))
        );
        assert_eq!(t.len(), 3);
    }
}
