//! Our names: every overridden name and its addresses, and the lookup that decides how a
//! Route 53 private hosted zone named after each would answer.
//!
//! | module | concern |
//! |---|---|
//! | [`table`] | the immutable record table and its lookup (exact, subtree, wildcard, scope) |
//! | [`scope`] | what a discovery source claims before and besides the names it has found |
//! | [`publisher`] | the single writer: builds the table from static overrides and source feeds, publishes it |

pub mod publisher;
pub mod scope;
pub mod table;
