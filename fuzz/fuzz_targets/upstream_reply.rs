//! The upstream-reply path: any bytes arriving on an upstream socket, matched against the
//! query they claim to answer, then walked, prepared for the cache (CNAME/DNAME chain
//! included) and patched for a client.
#![no_main]

use bedrock_link::dns::cache::Answer;
use bedrock_link::dns::upstream::{Match, matches};
use bedrock_link::dns::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A pending query for a fixed question: forged or broken replies must not match.
    let example = b"\x07example\x03com\x00";
    match matches(data, 0x1234, example, 1, 1) {
        Some(Match::Reply(q)) => {
            assert_eq!(wire::id(data), 0x1234);
            assert!(q.end() <= data.len());
        }
        Some(Match::ErrorWithoutQuestion(_)) => assert_eq!(wire::qdcount(data), 0),
        None => {}
    }
    // And a pending query for whatever question the bytes carry, so the rest gets exercised.
    if data.len() < wire::HEADER_LEN {
        return;
    }
    let Ok(question) = wire::read_question(data) else {
        return;
    };
    let name = data[question.name.clone()].to_vec();
    let Some(Match::Reply(q)) = matches(data, wire::id(data), &name, question.qtype, question.qclass)
    else {
        return;
    };
    let Ok(layout) = wire::layout(data, q.end()) else {
        return;
    };
    let Ok(answer) = Answer::from_upstream(data, q.end(), layout) else {
        return;
    };
    assert!(answer.chain.len() <= 16);
    let mut other_case = name.clone();
    other_case.make_ascii_uppercase();
    let opt = wire::opt_record(1232, 0, true);
    let patched = answer.patch(0xbeef, &other_case, Some(opt));
    assert_eq!(wire::id(&patched), 0xbeef);
    assert_eq!(patched.len(), answer.reply.bytes.len() + wire::OPT_LEN + answer.reply.ede.len());
    assert_eq!(&patched[wire::HEADER_LEN..wire::HEADER_LEN + name.len()], &other_case[..]);
    let cut = wire::truncated(&patched, q.end(), Some(&opt));
    assert!(wire::is_truncated(&cut));
    assert!(cut.len() <= q.end() + wire::OPT_LEN);
});
