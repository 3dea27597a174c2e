//! Micro-benchmarks of the query path's pieces, so regressions show without dnsperf:
//! `cargo bench --bench hot_paths`.

use std::hint::black_box;
use std::net::Ipv4Addr;

use bedrock_link::config::parse_override_name;
use bedrock_link::dns::cache::{self, Answer, AnswerCache};
use bedrock_link::dns::request::Request;
use bedrock_link::dns::wire;
use bedrock_link::zone::scope::Scope;
use bedrock_link::zone::table::{Addresses, RecordTable};
use criterion::{Criterion, criterion_group, criterion_main};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

fn table(n: usize) -> RecordTable {
    let mut t = RecordTable::default();
    for i in 0..n {
        let name =
            parse_override_name(&format!("service-{i}.ap-southeast-2.amazonaws.com")).unwrap();
        t.insert(
            &name,
            Addresses::new(
                vec![Ipv4Addr::new(10, 1, 0, 10), Ipv4Addr::new(10, 1, 1, 10)],
                vec![],
            ),
        );
    }
    t.add_scope(Scope::new("ap-southeast-2", &["bedrock*".to_string()], &[]));
    t
}

fn query(name: &str) -> Vec<u8> {
    let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    m.to_vec().unwrap()
}

fn upstream_reply(name: &str) -> Vec<u8> {
    let mut m = Message::response(0x4321, OpCode::Query);
    let q = Query::query(Name::from_ascii(name).unwrap(), RecordType::A);
    m.add_query(q.clone());
    for i in 1..=4 {
        m.add_answer(Record::from_rdata(
            q.name().clone(),
            300,
            RData::A(A(Ipv4Addr::new(192, 0, 2, i))),
        ));
    }
    m.to_vec().unwrap()
}

fn benches(c: &mut Criterion) {
    let t = table(50);
    let hit = LowerName::new(&Name::from_ascii("service-7.ap-southeast-2.amazonaws.com.").unwrap());
    let miss = LowerName::new(&Name::from_ascii("www.example.com.").unwrap());
    let scoped =
        LowerName::new(&Name::from_ascii("bedrock-runtime.ap-southeast-2.amazonaws.com.").unwrap());
    // The query path's form: the lower-case wire name, no allocation.
    let wire = |n: &LowerName| bedrock_link::zone::table::wire_key(n);
    let (hit, miss, scoped) = (wire(&hit), wire(&miss), wire(&scoped));
    c.bench_function("table lookup: override", |b| {
        b.iter(|| t.lookup_wire(black_box(&hit)))
    });
    c.bench_function("table lookup: forwarded name", |b| {
        b.iter(|| t.lookup_wire(black_box(&miss)))
    });
    c.bench_function("table lookup: scope, not yet discovered", |b| {
        b.iter(|| t.lookup_wire(black_box(&scoped)))
    });

    let raw = query("WWW.Example.com.");
    c.bench_function("request decode", |b| {
        b.iter(|| Request::parse(black_box(&raw)).unwrap())
    });

    let reply = upstream_reply("www.example.com.");
    let q = wire::read_question(&reply).unwrap();
    let layout = wire::layout(&reply, q.end()).unwrap();
    let answer = Answer::from_upstream(&reply, q.end(), layout).unwrap();
    let client_q = &raw[q.name.clone()];
    c.bench_function("answer patch (ID, case, TTLs, OPT)", |b| {
        b.iter(|| {
            answer.patch(
                black_box(0x9999),
                black_box(client_q),
                Some(wire::opt_record(1232, 0, false)),
            )
        })
    });
    c.bench_function("relay prepare (walk + strip OPT)", |b| {
        b.iter(|| {
            let layout = wire::layout(black_box(&reply), q.end()).unwrap();
            Answer::from_upstream(black_box(&reply), q.end(), layout).unwrap()
        })
    });

    let cache = AnswerCache::new(10_000, 8 << 20);
    let key = cache::key(client_q, 1, 1, 1);
    cache.insert(key.clone(), std::sync::Arc::new(answer));
    c.bench_function("cache lookup: hit", |b| {
        b.iter(|| cache.get(black_box(&key)).unwrap())
    });
    c.bench_function("cache key", |b| {
        b.iter(|| cache::key(black_box(client_q), 1, 1, 1))
    });
}

criterion_group!(hot_paths, benches);
criterion_main!(hot_paths);
