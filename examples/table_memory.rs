//! Heap bytes of a record table: `cargo run --release --example table_memory -- 50 3`
//! builds a table of N discovered names with K IPv4 addresses each, as discovery would, and
//! prints what it allocated (a counting allocator wraps the system one).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicIsize, Ordering};

use bedrock_link::config::parse_override_name;
use bedrock_link::zone::table::{Addresses, RecordTable};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let names = args.next().unwrap_or(50);
    let ips = args.next().unwrap_or(3);
    let parsed: Vec<_> = (0..names)
        .map(|i| {
            parse_override_name(&format!("service-{i:03}.ap-southeast-2.amazonaws.com")).unwrap()
        })
        .collect();
    let before = LIVE.load(Ordering::Relaxed);
    let mut table = RecordTable::default();
    for (i, name) in parsed.iter().enumerate() {
        let ipv4 = (0..ips)
            .map(|k| Ipv4Addr::new(10, 20, k as u8, i as u8))
            .collect();
        table.insert(name, Addresses::new(ipv4, vec![]));
    }
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "{names} names x {ips} IPv4: {bytes} heap bytes ({:.1} per name), {} names in table",
        bytes as f64 / names as f64,
        table.len()
    );
}
