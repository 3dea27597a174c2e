//! A reply encoded once and patched for each client that asks the same question: the
//! client's ID, its question bytes (its case), TTLs aged by the time since the reply came, and
//! our OPT (carrying the upstream's Extended DNS Errors). Cached upstream answers are patched
//! this way, and so are the override answers we prepare once per record table.

use crate::dns::wire;

/// The TTL of every record in a stale answer (RFC 8767 section 4: 30 s).
pub const STALE_TTL: u32 = 30;

/// The EDNS option for Extended DNS Error 3, Stale Answer (RFC 8914 section 4.4): code 15,
/// length 2, info code 3.
const EDE_STALE_ANSWER: [u8; 6] = [0, 15, 0, 2, 0, 3];

/// A reply without its OPT record, ready to patch.
#[derive(Debug)]
pub struct Prepared {
    /// The reply without OPT.
    pub bytes: Box<[u8]>,
    /// Where the question ends in `bytes`.
    pub question_end: usize,
    /// Offsets of every TTL in `bytes` (none for our own answers: their TTLs never age).
    pub ttl_offsets: Box<[u32]>,
    /// High bits of the extended RCODE, to carry into our OPT.
    pub ext_rcode: u8,
    /// Extended DNS Error options (RFC 8914), carried into our OPT.
    pub ede: Box<[u8]>,
}

impl Prepared {
    /// A reply we authored, without OPT: nothing in it ages.
    pub fn authored(bytes: Vec<u8>, question_end: usize) -> Self {
        Self {
            bytes: bytes.into_boxed_slice(),
            question_end,
            ttl_offsets: Box::default(),
            ext_rcode: 0,
            ede: Box::default(),
        }
    }

    /// The reply for one client: its ID, its question bytes (its case), TTLs less `age`
    /// seconds, and our OPT when `opt` is given.
    pub fn patch(
        &self,
        id: u16,
        question: &[u8],
        opt: Option<[u8; wire::OPT_LEN]>,
        age: u32,
    ) -> Vec<u8> {
        let mut out = self.for_client(id, question);
        wire::age_ttls(&mut out, &self.ttl_offsets, age);
        if let Some(mut opt) = opt {
            opt[5] = self.ext_rcode;
            wire::push_opt_with(&mut out, &opt, &self.ede);
        }
        out
    }

    /// The reply for one client after its expiry (RFC 8767): every TTL [`STALE_TTL`], and
    /// with `opt` (the client sent EDNS), Extended DNS Error 3 (Stale Answer) after the
    /// upstream's own.
    pub fn patch_stale(
        &self,
        id: u16,
        question: &[u8],
        opt: Option<[u8; wire::OPT_LEN]>,
    ) -> Vec<u8> {
        let mut out = self.for_client(id, question);
        wire::set_ttls(&mut out, &self.ttl_offsets, STALE_TTL);
        if let Some(mut opt) = opt {
            opt[5] = self.ext_rcode;
            let options = [&self.ede[..], &EDE_STALE_ANSWER].concat();
            wire::push_opt_with(&mut out, &opt, &options);
        }
        out
    }

    /// The bytes with the client's ID and question.
    fn for_client(&self, id: u16, question: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + wire::OPT_LEN + self.ede.len() + 6);
        out.extend_from_slice(&self.bytes);
        wire::set_id(&mut out, id);
        if let Some(dst) = out.get_mut(wire::HEADER_LEN..wire::HEADER_LEN + question.len()) {
            dst.copy_from_slice(question);
        }
        out
    }

    /// Roughly what it holds in memory.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.bytes.len() + self.ttl_offsets.len() * 4 + self.ede.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_counts_every_byte_it_holds() {
        let empty = Prepared {
            bytes: Box::new([]),
            question_end: 0,
            ttl_offsets: Box::new([]),
            ext_rcode: 0,
            ede: Box::new([]),
        };
        let base = empty.heap_bytes();
        assert_eq!(base, std::mem::size_of::<Prepared>());
        let full = Prepared {
            bytes: vec![0; 100].into_boxed_slice(),
            ttl_offsets: vec![0; 10].into_boxed_slice(),
            ede: vec![0; 7].into_boxed_slice(),
            ..empty
        };
        // The reply's bytes, four per TTL offset (u32), and the EDE options' bytes.
        assert_eq!(full.heap_bytes(), base + 100 + 10 * 4 + 7);
    }
}
