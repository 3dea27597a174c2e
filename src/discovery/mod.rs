//! EC2 discovery: each `[[source]]` is refreshed on its own schedule, and its last good
//! snapshot feeds the record table: a source signals the table's writer after each pass (see
//! `table`), it never builds the table itself.
//!
//! A failed pass keeps the last good snapshot and backs off exponentially (with jitter, up to
//! the refresh interval); once the last success is older than `max_stale`, the source's names
//! become unavailable (SERVFAIL by default) instead of serving addresses that may be gone.
//!
//! | module | concern |
//! |---|---|
//! | [`snapshot`] | what a pass found: endpoints, and the names they answer for |
//! | [`status`] | one source between passes: last good snapshot, freshness, names ever served; its [`Feed`](crate::zone::publisher::Feed) |
//! | [`error`] | why a pass, the AWS client's resolver, or the start failed |
//! | `refresh` | (feature `aws`) the task per source: passes, backoff, staleness; the one-off pass |
//! | `ec2` | (feature `aws`) the EC2 API calls of one pass, and the client they are made with |
//! | `cross_region` | (feature `aws`) whether the app region offers a service over cross-region PrivateLink |
//! | `assume` | (feature `aws`) a source's `role_arn`: STS AssumeRole credentials, renewed |
//! | `resolver` | (feature `aws`) the AWS client's own DNS, through the upstream servers |
//! | [`services`] | service names and their short forms |

pub mod error;
pub mod services;
pub mod snapshot;
pub mod status;

#[cfg(feature = "aws")]
mod assume;
#[cfg(feature = "aws")]
pub mod cross_region;
#[cfg(feature = "aws")]
pub mod ec2;
#[cfg(feature = "aws")]
mod refresh;
#[cfg(feature = "aws")]
pub mod resolver;
#[cfg(not(feature = "aws"))]
mod unbuilt;

pub use error::{DiscoveryError, ResolverError, StartError};
#[cfg(feature = "aws")]
pub use refresh::{Sources, discover_once, run};
#[cfg(feature = "aws")]
pub use resolver::UpstreamDns;
pub use snapshot::{DnsEntry, Endpoint, Snapshot};
pub use status::SourceStatus;
#[cfg(not(feature = "aws"))]
pub use unbuilt::Sources;
