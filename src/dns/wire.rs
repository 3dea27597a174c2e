//! Byte-level DNS message work that the relay path needs and a full decode would waste:
//! finding every TTL and the OPT record in an upstream reply, and patching a stored reply for
//! the next client (ID, question case, TTLs counting down, our own OPT).
//!
//! Everything here is bounds-checked and allocation-free except where a new buffer is the
//! result; no input can make it panic or loop (name walks are bounded).

use std::ops::Range;

/// DNS header length.
pub const HEADER_LEN: usize = 12;
/// Record type of the EDNS(0) OPT pseudo-record.
pub const TYPE_OPT: u16 = 41;
/// Record type of SOA.
pub const TYPE_SOA: u16 = 6;
/// Record type of CNAME.
pub const TYPE_CNAME: u16 = 5;
/// Record type of DNAME.
pub const TYPE_DNAME: u16 = 39;
/// EDNS option code of an Extended DNS Error (RFC 8914).
pub const OPTION_EDE: u16 = 15;
/// TTLs with the top bit set mean 0 (RFC 2181 section 8).
const TTL_LIMIT: u32 = 1 << 31;
/// Length of the OPT record we add: root owner, type, class, TTL, empty RDATA.
pub const OPT_LEN: usize = 11;

/// Why a message could not be walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message shorter than its contents claim")]
    Short,
    #[error("bad name encoding")]
    BadName,
    #[error("more than one OPT record")]
    DuplicateOpt,
    #[error("an OPT record outside the additional section")]
    MisplacedOpt,
}

// Header accessors. Callers check `len() >= HEADER_LEN` first.
pub fn id(msg: &[u8]) -> u16 {
    u16::from_be_bytes([msg[0], msg[1]])
}
pub fn set_id(msg: &mut [u8], id: u16) {
    msg[..2].copy_from_slice(&id.to_be_bytes());
}
pub fn is_response(msg: &[u8]) -> bool {
    msg[2] & 0x80 != 0
}
pub fn is_truncated(msg: &[u8]) -> bool {
    msg[2] & 0x02 != 0
}
pub fn rcode(msg: &[u8]) -> u8 {
    msg[3] & 0x0f
}

/// Header flag bits that change what an upstream answers, where they sit: RD in the third
/// byte, AD and CD in the fourth.
pub const FLAG_RD: u8 = 0x01;
pub const FLAG_AD: u8 = 0x20;
pub const FLAG_CD: u8 = 0x10;

/// The RD bit of a message, in place (`FLAG_RD` or 0).
pub fn rd_bit(msg: &[u8]) -> u8 {
    msg[2] & FLAG_RD
}

/// The AD and CD bits of a message, in place.
pub fn ad_cd_bits(msg: &[u8]) -> u8 {
    msg[3] & (FLAG_AD | FLAG_CD)
}

/// Copies a wire name into `dst` (as long as `name`), lower-casing it: the form names are
/// compared and keyed in.
pub fn lowercase_into(dst: &mut [u8], name: &[u8]) {
    dst.copy_from_slice(name);
    dst.make_ascii_lowercase();
}
fn count(msg: &[u8], index: usize) -> u16 {
    u16::from_be_bytes([msg[4 + 2 * index], msg[5 + 2 * index]])
}
fn set_count(msg: &mut [u8], index: usize, value: u16) {
    msg[4 + 2 * index..6 + 2 * index].copy_from_slice(&value.to_be_bytes());
}
pub fn qdcount(msg: &[u8]) -> u16 {
    count(msg, 0)
}
pub fn ancount(msg: &[u8]) -> u16 {
    count(msg, 1)
}
pub fn arcount(msg: &[u8]) -> u16 {
    count(msg, 3)
}

fn u16_at(msg: &[u8], pos: usize) -> Result<u16, WireError> {
    let b = msg.get(pos..pos + 2).ok_or(WireError::Short)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}
fn u32_at(msg: &[u8], pos: usize) -> Result<u32, WireError> {
    let b = msg.get(pos..pos + 4).ok_or(WireError::Short)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Skips the name at `pos` (compressed or not) and returns the position after it.
pub fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, WireError> {
    // A name is at most 255 bytes, so 128 labels is a safe upper bound on the loop.
    for _ in 0..128 {
        let len = *msg.get(pos).ok_or(WireError::Short)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(pos + 1),
            0x00 => pos += 1 + len as usize,
            // A pointer ends the name in this place; where it points does not matter here.
            0xc0 => return msg.get(pos + 1).map(|_| pos + 2).ok_or(WireError::Short),
            _ => return Err(WireError::BadName),
        }
    }
    Err(WireError::BadName)
}

/// The question of a message: where its (uncompressed) name is, and its type and class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionSpan {
    pub name: Range<usize>,
    pub qtype: u16,
    pub qclass: u16,
}

impl QuestionSpan {
    /// Offset just past the question.
    pub fn end(&self) -> usize {
        self.name.end + 4
    }
}

/// Reads the first question, which must be an uncompressed name (it is the first name in the
/// message, so a pointer could only point into the header).
pub fn read_question(msg: &[u8]) -> Result<QuestionSpan, WireError> {
    let start = HEADER_LEN;
    let mut pos = start;
    loop {
        let len = *msg.get(pos).ok_or(WireError::Short)? as usize;
        if len == 0 {
            pos += 1;
            break;
        }
        if len > 63 {
            return Err(WireError::BadName);
        }
        pos += 1 + len;
        if pos - start > 255 {
            return Err(WireError::BadName);
        }
    }
    if pos - start > 255 {
        return Err(WireError::BadName);
    }
    let qtype = u16_at(msg, pos)?;
    let qclass = u16_at(msg, pos + 2)?;
    Ok(QuestionSpan {
        name: start..pos,
        qtype,
        qclass,
    })
}

/// What the relay needs to know about an upstream reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Offsets of the TTL field of every record except OPT.
    pub ttl_offsets: Vec<u32>,
    /// Where the OPT record starts, if any.
    pub opt_start: Option<usize>,
    /// Where the OPT record's options (its RDATA) are.
    pub opt_options: Range<usize>,
    /// The high 8 bits of the extended RCODE, from the OPT record.
    pub ext_rcode: u8,
    /// Number of additional records before the OPT record (all of them when there is none).
    pub additionals_before_opt: u16,
    /// Smallest TTL in the answer and authority sections.
    pub min_ttl: Option<u32>,
    /// Smallest TTL in the answer section.
    pub answer_min_ttl: Option<u32>,
    /// min(SOA TTL, SOA MINIMUM) of the first SOA in the authority section (RFC 2308).
    pub negative_ttl: Option<u32>,
    /// Whether the answer section holds a CNAME or DNAME (a chain to follow).
    pub has_alias: bool,
}

/// A TTL as a cache must read it: 2^31 and above count as 0 (RFC 2181 section 8).
pub fn ttl_value(raw: u32) -> u32 {
    if raw >= TTL_LIMIT { 0 } else { raw }
}

/// Walks every record of a reply, starting after the question that ends at `question_end`.
pub fn layout(msg: &[u8], question_end: usize) -> Result<Layout, WireError> {
    if msg.len() < HEADER_LEN {
        return Err(WireError::Short);
    }
    let sections = [count(msg, 1), count(msg, 2), count(msg, 3)];
    let mut out = Layout {
        additionals_before_opt: sections[2],
        ..Layout::default()
    };
    let mut pos = question_end;
    for (section, &n) in sections.iter().enumerate() {
        for index in 0..n {
            let start = pos;
            pos = skip_name(msg, pos)?;
            let rtype = u16_at(msg, pos)?;
            let raw_ttl = u32_at(msg, pos + 4)?;
            let rdlen = u16_at(msg, pos + 8)? as usize;
            let rdata = pos + 10;
            let end = rdata + rdlen;
            if end > msg.len() {
                return Err(WireError::Short);
            }
            if rtype == TYPE_OPT {
                // Only the additional section may hold it; cutting it out of another section
                // would leave a malformed message.
                if section != 2 {
                    return Err(WireError::MisplacedOpt);
                }
                if out.opt_start.is_some() {
                    return Err(WireError::DuplicateOpt);
                }
                out.opt_start = Some(start);
                out.opt_options = rdata..end;
                out.ext_rcode = (raw_ttl >> 24) as u8;
                out.additionals_before_opt = index;
            } else {
                let ttl = ttl_value(raw_ttl);
                out.ttl_offsets.push((pos + 4) as u32);
                if section < 2 {
                    out.min_ttl = Some(out.min_ttl.map_or(ttl, |m| m.min(ttl)));
                }
                if section == 0 {
                    out.answer_min_ttl = Some(out.answer_min_ttl.map_or(ttl, |m| m.min(ttl)));
                    out.has_alias |= rtype == TYPE_CNAME || rtype == TYPE_DNAME;
                }
                if section == 1 && rtype == TYPE_SOA && out.negative_ttl.is_none() {
                    // SOA RDATA: MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM.
                    let after_names = skip_name(msg, skip_name(msg, rdata)?)?;
                    let minimum = ttl_value(u32_at(msg, after_names + 16)?);
                    out.negative_ttl = Some(ttl.min(minimum));
                }
            }
            pos = end;
        }
    }
    Ok(out)
}

/// Returns the reply without its OPT record and anything after it, with ARCOUNT fixed.
///
/// Cutting at the OPT (instead of splicing it out) keeps every compression pointer valid:
/// pointers only point backwards. Servers put OPT last, so nothing is lost in practice; any
/// additional records after it are optional data a resolver may drop.
pub fn strip_opt(msg: &[u8], layout: &Layout) -> Vec<u8> {
    match layout.opt_start {
        None => msg.to_vec(),
        Some(start) => {
            let mut out = msg[..start].to_vec();
            set_count(&mut out, 3, layout.additionals_before_opt);
            out
        }
    }
}

/// The Extended DNS Error options (RFC 8914) among an OPT record's options, as they stand.
pub fn ede_options(options: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let (Ok(code), Ok(len)) = (u16_at(options, pos), u16_at(options, pos + 2)) {
        let end = pos + 4 + usize::from(len);
        let Some(option) = options.get(pos..end) else {
            break;
        };
        if code == OPTION_EDE {
            out.extend_from_slice(option);
        }
        pos = end;
    }
    out
}

/// Sets every TTL at `offsets` that means 0 (2^31 or above) to 0.
pub fn zero_huge_ttls(msg: &mut [u8], offsets: &[u32]) {
    for &off in offsets {
        let off = off as usize;
        if let Some(b) = msg.get_mut(off..off + 4)
            && ttl_value(u32::from_be_bytes([b[0], b[1], b[2], b[3]])) == 0
        {
            b.copy_from_slice(&[0; 4]);
        }
    }
}

/// Reads the name at `pos`, following compression pointers, as a lower-case uncompressed wire
/// name (the record table's key form). Bounded: at most 255 bytes and 128 jumps.
pub fn read_name_lower(msg: &[u8], mut pos: usize) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(64);
    for _ in 0..128 {
        let len = *msg.get(pos).ok_or(WireError::Short)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                out.push(0);
                return Ok(out);
            }
            0x00 => {
                let label = msg
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(WireError::Short)?;
                out.push(len);
                out.extend(label.iter().map(u8::to_ascii_lowercase));
                if out.len() > 254 {
                    return Err(WireError::BadName);
                }
                pos += 1 + usize::from(len);
            }
            0xc0 => {
                let low = *msg.get(pos + 1).ok_or(WireError::Short)?;
                pos = usize::from(u16::from_be_bytes([len & 0x3f, low]));
            }
            _ => return Err(WireError::BadName),
        }
    }
    Err(WireError::BadName)
}

/// One CNAME or DNAME of an answer section: owner and target, lower-case wire names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub rtype: u16,
    pub owner: Vec<u8>,
    pub target: Vec<u8>,
}

/// The CNAME and DNAME records of a reply's answer section, in order.
pub fn aliases(msg: &[u8], question_end: usize) -> Result<Vec<Alias>, WireError> {
    let mut out = Vec::new();
    let mut pos = question_end;
    for _ in 0..ancount(msg) {
        let owner_at = pos;
        pos = skip_name(msg, pos)?;
        let rtype = u16_at(msg, pos)?;
        let rdlen = u16_at(msg, pos + 8)? as usize;
        let rdata = pos + 10;
        if rtype == TYPE_CNAME || rtype == TYPE_DNAME {
            out.push(Alias {
                rtype,
                owner: read_name_lower(msg, owner_at)?,
                target: read_name_lower(msg, rdata)?,
            });
        }
        pos = rdata + rdlen;
    }
    Ok(out)
}

/// Our OPT record: version 0, our UDP payload size, the given extended RCODE bits and DO.
pub fn opt_record(payload: u16, ext_rcode: u8, dnssec_ok: bool) -> [u8; OPT_LEN] {
    let p = payload.to_be_bytes();
    [
        0,
        0,
        41,
        p[0],
        p[1],
        ext_rcode,
        0,
        if dnssec_ok { 0x80 } else { 0 },
        0,
        0,
        0,
    ]
}

/// Appends an OPT record and counts it in ARCOUNT.
pub fn push_opt(msg: &mut Vec<u8>, opt: &[u8; OPT_LEN]) {
    push_opt_with(msg, opt, &[]);
}

/// Appends an OPT record carrying `options` (whole option TLVs) and counts it in ARCOUNT.
pub fn push_opt_with(msg: &mut Vec<u8>, opt: &[u8; OPT_LEN], options: &[u8]) {
    let n = arcount(msg);
    set_count(msg, 3, n.saturating_add(1));
    msg.extend_from_slice(&opt[..OPT_LEN - 2]);
    let len = u16::try_from(options.len()).unwrap_or(0);
    msg.extend_from_slice(&len.to_be_bytes());
    msg.extend_from_slice(&options[..usize::from(len)]);
}

/// Subtracts `elapsed` seconds from every TTL at `offsets` (not below zero).
pub fn age_ttls(msg: &mut [u8], offsets: &[u32], elapsed: u32) {
    if elapsed == 0 {
        return;
    }
    for &off in offsets {
        let off = off as usize;
        if let Some(b) = msg.get_mut(off..off + 4) {
            let ttl = u32::from_be_bytes([b[0], b[1], b[2], b[3]]).saturating_sub(elapsed);
            b.copy_from_slice(&ttl.to_be_bytes());
        }
    }
}

/// Sets every TTL at `offsets` to `ttl`.
pub fn set_ttls(msg: &mut [u8], offsets: &[u32], ttl: u32) {
    for &off in offsets {
        let off = off as usize;
        if let Some(b) = msg.get_mut(off..off + 4) {
            b.copy_from_slice(&ttl.to_be_bytes());
        }
    }
}

/// A truncated reply: the header with TC set and only the question (and our OPT, if given).
pub fn truncated(msg: &[u8], question_end: usize, opt: Option<&[u8; OPT_LEN]>) -> Vec<u8> {
    let mut out = msg[..question_end.min(msg.len())].to_vec();
    out[2] |= 0x02;
    for i in 1..4 {
        set_count(&mut out, i, 0);
    }
    if let Some(opt) = opt {
        push_opt(&mut out, opt);
    }
    out
}

/// Case-insensitive comparison of two uncompressed wire names.
pub fn names_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Query for `a.b` type A with one compressed answer and an OPT, then a trailing record.
    fn sample() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 2];
        m.extend_from_slice(&[1, b'A', 1, b'b', 0, 0, 1, 0, 1]);
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
        m.extend_from_slice(&opt_record(1232, 0, false));
        m.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 5, 0, 1, 0]);
        m
    }

    #[test]
    fn header_fields_are_read_where_they_sit() {
        let m = sample(); // a response, RD and RA set, NOERROR, 1 question, 1 answer, 2 additional
        assert!(is_response(&m));
        assert_eq!((qdcount(&m), ancount(&m), arcount(&m)), (1, 1, 2));
        assert_eq!((rcode(&m), rd_bit(&m), ad_cd_bits(&m)), (0, FLAG_RD, 0));
        let mut q = m.clone();
        q[2] = 0x00; // a query, RD clear
        q[3] = 0x3b; // Z, AD, CD set, RCODE 11
        q[4..8].copy_from_slice(&[0, 3, 1, 2]);
        assert!(!is_response(&q));
        assert_eq!(
            (rcode(&q), rd_bit(&q), ad_cd_bits(&q)),
            (11, 0, FLAG_AD | FLAG_CD)
        );
        assert_eq!((qdcount(&q), ancount(&q)), (3, 258));
    }

    #[test]
    fn a_name_is_lowercased_into_its_key_form() {
        let name = [3, b'A', b'b', b'C', 1, b'-', 0];
        let mut lower = [0u8; 7];
        lowercase_into(&mut lower, &name);
        assert_eq!(lower, [3, b'a', b'b', b'c', 1, b'-', 0]);
    }

    #[test]
    fn names_are_skipped_whole_or_up_to_their_pointer() {
        let m = sample();
        // The question's name (a.b.), then the answer's pointer.
        assert_eq!(skip_name(&m, HEADER_LEN), Ok(HEADER_LEN + 5));
        assert_eq!(skip_name(&m, HEADER_LEN + 9), Ok(HEADER_LEN + 11));
        assert_eq!(skip_name(&[0], 0), Ok(1), "the root");
        assert_eq!(skip_name(&[1, b'a', 2, b'b', b'c', 0], 0), Ok(6));
        assert_eq!(skip_name(&[1, b'a'], 0), Err(WireError::Short));
        assert_eq!(
            skip_name(&[0xc0], 0),
            Err(WireError::Short),
            "half a pointer"
        );
        assert_eq!(
            skip_name(&[0x40, 0], 0),
            Err(WireError::BadName),
            "label type 01"
        );
        assert_eq!(
            skip_name(&[0x80, 0], 0),
            Err(WireError::BadName),
            "label type 10"
        );
    }

    /// A query whose question name has labels of these lengths (`x` each), type A, class IN;
    /// without the root and type when `whole` is false.
    fn query_with_labels(lengths: &[usize], whole: bool) -> Vec<u8> {
        let mut m = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for &len in lengths {
            m.push(len as u8);
            m.extend(std::iter::repeat_n(b'x', len));
        }
        if whole {
            m.extend_from_slice(&[0, 0, 1, 0, 1]);
        }
        m
    }

    #[test]
    fn a_question_name_is_at_most_255_bytes_of_labels_of_at_most_63() {
        let ok = |lengths: &[usize]| read_question(&query_with_labels(lengths, true));
        let span = ok(&[63, 63, 63, 61]).expect("255 bytes with the root");
        assert_eq!(
            (span.name, span.qtype, span.qclass),
            (HEADER_LEN..HEADER_LEN + 255, 1, 1)
        );
        assert!(ok(&[63]).is_ok());
        assert!(ok(&[60; 3]).is_ok(), "a long name well inside the limit");
        assert_eq!(ok(&[64]), Err(WireError::BadName));
        assert_eq!(
            ok(&[63, 63, 63, 62]),
            Err(WireError::BadName),
            "256 bytes with the root"
        );
        // Too long is said as soon as it is, not when the message runs out.
        let endless = query_with_labels(&[63; 8], false);
        assert_eq!(read_question(&endless), Err(WireError::BadName));
        assert_eq!(
            read_question(&query_with_labels(&[3], false)),
            Err(WireError::Short)
        );
    }

    #[test]
    fn a_name_read_lower_case_is_at_most_255_bytes() {
        let read =
            |lengths: &[usize]| read_name_lower(&query_with_labels(lengths, true), HEADER_LEN);
        let name = read(&[63, 63, 63, 61]).expect("255 bytes with the root");
        assert_eq!(name.len(), 255);
        assert_eq!(read(&[63, 63, 63, 62]), Err(WireError::BadName), "256");
        assert_eq!(
            read(&[63; 5]),
            Err(WireError::BadName),
            "far past the limit"
        );
    }

    #[test]
    fn walks_and_strips() {
        let m = sample();
        let q = read_question(&m).unwrap();
        assert_eq!((q.name.clone(), q.qtype, q.qclass), (12..17, 1, 1));
        let l = layout(&m, q.end()).unwrap();
        assert_eq!(
            l.ttl_offsets,
            vec![q.end() as u32 + 6, (q.end() + 16 + 11) as u32 + 6]
        );
        assert_eq!(l.opt_start, Some(q.end() + 16));
        assert_eq!(l.additionals_before_opt, 0);
        assert_eq!(l.min_ttl, Some(60));
        let s = strip_opt(&m, &l);
        assert_eq!(s.len(), q.end() + 16);
        assert_eq!(arcount(&s), 0);
    }

    /// A reply to `a.` A: one A record (TTL 60), then `authority` and `additional` as given.
    fn reply_with(ns: u16, ar: u16, records: &[u8]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1];
        m.extend_from_slice(&ns.to_be_bytes());
        m.extend_from_slice(&ar.to_be_bytes());
        m.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        m.extend_from_slice(records);
        m
    }

    #[test]
    fn layout_reads_the_extended_rcode_and_takes_only_an_soa_as_negative() {
        // An NS in the authority section of a positive answer is no negative TTL.
        let ns = [0xc0, 12, 0, 2, 0, 1, 0, 0, 0, 120, 0, 2, 0xc0, 12];
        let m = reply_with(1, 0, &ns);
        let l = layout(&m, 19).unwrap();
        assert_eq!(
            (l.negative_ttl, l.min_ttl, l.answer_min_ttl),
            (None, Some(60), Some(60))
        );
        assert!(!l.has_alias);
        // The OPT's TTL carries the upper eight bits of the RCODE (RFC 6891 6.1.3).
        let opt = [0, 0, 41, 0x10, 0, 1, 0, 0, 0, 0, 0];
        let l = layout(&reply_with(0, 1, &opt), 19).unwrap();
        assert_eq!(l.ext_rcode, 1);
        assert_eq!((l.opt_start, l.additionals_before_opt), (Some(35), 0));
        // A header alone (no question, no records) lays out as nothing.
        let l = layout(&[0; HEADER_LEN], HEADER_LEN).unwrap();
        assert_eq!(l, Layout::default());
    }

    #[test]
    fn ages_ttls_without_underflow() {
        let mut m = sample();
        let q = read_question(&m).unwrap();
        let l = layout(&m, q.end()).unwrap();
        age_ttls(&mut m, &l.ttl_offsets, 7);
        let l2 = layout(&m, q.end()).unwrap();
        assert_eq!(l2.min_ttl, Some(53));
        assert_eq!(u32_at(&m, l.ttl_offsets[1] as usize).unwrap(), 0);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        let m = sample();
        for cut in 0..m.len() {
            let part = &m[..cut];
            if let Ok(q) = read_question(part) {
                let _ = layout(part, q.end());
            }
        }
        // A pointer loop is harmless: skip_name never follows pointers.
        let looped = [
            0u8, 0, 0x81, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0xc0, 17, 0, 1,
        ];
        assert!(layout(&looped, 17).is_err());
        // Shorter than a header, whatever the caller thinks the question ends at.
        for len in 0..HEADER_LEN {
            assert_eq!(
                layout(&vec![0; len], len),
                Err(WireError::Short),
                "{len} bytes"
            );
        }
        assert_eq!(read_question(&[0; 12]), Err(WireError::Short));
        let mut long = vec![0u8; 12];
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert_eq!(read_question(&long), Err(WireError::BadName));
    }

    #[test]
    fn truncation_keeps_question_and_opt() {
        let m = sample();
        let q = read_question(&m).unwrap();
        let t = truncated(&m, q.end(), Some(&opt_record(1232, 0, true)));
        assert!(is_truncated(&t));
        assert_eq!((ancount(&t), arcount(&t)), (0, 1));
        assert_eq!(t.len(), q.end() + OPT_LEN);
    }
}
