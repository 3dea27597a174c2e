//! Reading a client's query: hickory-proto decodes it, and we keep what answering needs
//! (the question as sent, its wire position for case-preserving patches, and EDNS).

use hickory_proto::op::{Header, Message, MessageType, OpCode, Query};
use hickory_proto::rr::LowerName;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::dns::wire;

/// The client's EDNS(0) parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientEdns {
    /// Advertised UDP payload size, raised to 512 when smaller (RFC 6891 6.2.5).
    pub payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

/// A decoded query.
#[derive(Debug, Clone)]
pub struct Request {
    pub header: Header,
    /// The question, decoded, exactly as sent (the name keeps the client's case).
    pub question: Query,
    /// The question name, lower-cased, for lookups and cache keys.
    pub qname: LowerName,
    /// Where the question sits in the raw message (to patch replies byte for byte).
    pub span: wire::QuestionSpan,
    pub edns: Option<ClientEdns>,
}

/// Why a query cannot be answered normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Too short to even hold a header, or itself a response: no reply at all.
    Drop,
    /// Decodable header, broken rest: FORMERR with the header's ID.
    FormErr(Header),
    /// An opcode we do not implement.
    NotImp(Header),
}

impl Request {
    /// Decodes `raw`; the error says whether and how to reply.
    pub fn parse(raw: &[u8]) -> Result<Self, Reject> {
        let mut decoder = BinDecoder::new(raw);
        let header = Header::read(&mut decoder).map_err(|_| Reject::Drop)?;
        if header.message_type == MessageType::Response {
            // Never answer a response: that is how reflection loops start.
            return Err(Reject::Drop);
        }
        if header.op_code != OpCode::Query {
            return Err(Reject::NotImp(header));
        }
        if header.counts.queries != 1 {
            return Err(Reject::FormErr(header));
        }
        let span = wire::read_question(raw).map_err(|_| Reject::FormErr(header))?;
        let question = Query::read(&mut decoder).map_err(|_| Reject::FormErr(header))?;
        if decoder.index() != span.end() {
            return Err(Reject::FormErr(header));
        }
        let (counts, op) = (header.counts, header.op_code);
        Message::read_records(&mut decoder, counts.answers.into(), false, op)
            .map_err(|_| Reject::FormErr(header))?;
        Message::read_records(&mut decoder, counts.authorities.into(), false, op)
            .map_err(|_| Reject::FormErr(header))?;
        let (_, edns, _) = Message::read_records(&mut decoder, counts.additionals.into(), true, op)
            .map_err(|_| Reject::FormErr(header))?;
        let edns = edns.map(|e| ClientEdns {
            payload: e.max_payload().max(512),
            version: e.version(),
            dnssec_ok: e.flags().dnssec_ok,
        });
        Ok(Self {
            header,
            qname: LowerName::new(question.name()),
            question,
            span,
            edns,
        })
    }

    /// The largest UDP reply this client accepts, capped by our own limit.
    pub fn udp_limit(&self, our_max: u16) -> usize {
        match self.edns {
            Some(e) => usize::from(e.payload.min(our_max).max(512)),
            None => 512,
        }
    }
}
