//! Datagrams read and replies sent several at a time (`recvmmsg`/`sendmmsg`, through nix).
//!
//! At a steady rate a read returns one query, as `recv_from` would, for the same one system
//! call. When queries queue up (a burst, or saturation) one read takes up to [`BATCH`] of
//! them and one send carries their answers: the cost of entering the kernel, which is much
//! of what a UDP answer costs on a VM, is then shared.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage};
use tracing::debug;

/// Datagrams per read, and replies per send.
pub const BATCH: usize = 16;

/// The largest datagram there can be: a query is never cut short.
const DATAGRAM: usize = 65_535;

/// Receive buffers and the kernel's headers for them, reused for every read.
///
/// The buffers come zeroed from the allocator (fresh pages): only the pages a datagram
/// touches become resident, so the 16 slots cost about 16 pages, not 1 MiB.
pub struct Receiver {
    bufs: Vec<u8>,
    headers: MultiHeaders<SockaddrStorage>,
    /// Length and sender of each datagram of the last read.
    got: Vec<(usize, Option<SocketAddr>)>,
}

impl Receiver {
    pub fn new() -> Self {
        Self {
            bufs: vec![0; DATAGRAM * BATCH],
            headers: MultiHeaders::preallocate(BATCH, None),
            got: Vec::with_capacity(BATCH),
        }
    }

    /// Blocks until at least one datagram arrives, then takes whatever else is already
    /// queued, up to [`BATCH`]. Returns how many were read.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let mut chunks = self.bufs.chunks_exact_mut(DATAGRAM);
        let mut slices: [[IoSliceMut; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(chunks.next().expect("BATCH chunks"))]);
        let read = nix::sys::socket::recvmmsg(
            socket.as_raw_fd(),
            &mut self.headers,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )
        .map_err(io::Error::from)?;
        self.got.clear();
        self.got
            .extend(read.map(|m| (m.bytes, m.address.and_then(|a| socket_addr(&a)))));
        Ok(self.got.len())
    }

    /// Datagram `i` of the last read and who sent it (`None` if the kernel gave no IP
    /// address, which a UDP socket never does).
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let (len, src) = self.got[i];
        let start = i * DATAGRAM;
        Some((&self.bufs[start..start + len.min(DATAGRAM)], src?))
    }
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

/// Replies waiting to go out in one `sendmmsg`.
pub struct Sender {
    replies: Vec<Vec<u8>>,
    dsts: Vec<Option<SockaddrStorage>>,
    headers: MultiHeaders<SockaddrStorage>,
}

impl Default for Sender {
    fn default() -> Self {
        Self {
            replies: Vec::with_capacity(BATCH),
            dsts: Vec::with_capacity(BATCH),
            headers: MultiHeaders::preallocate(BATCH, None),
        }
    }
}

impl Sender {
    /// Queues a reply; a full queue is sent first.
    pub fn push(&mut self, socket: &UdpSocket, reply: Vec<u8>, dst: SocketAddr) {
        if self.replies.len() == BATCH {
            self.flush(socket);
        }
        self.replies.push(reply);
        self.dsts.push(Some(dst.into()));
    }

    /// Sends every reply queued, blocking on a full send buffer (the thread has nothing else
    /// to do). A reply the kernel refuses is logged and skipped; the rest still go.
    pub fn flush(&mut self, socket: &UdpSocket) {
        let mut sent = 0;
        while sent < self.replies.len() {
            let mut left = self.replies[sent..].iter();
            let slices: [[IoSlice; 1]; BATCH] =
                std::array::from_fn(|_| [IoSlice::new(left.next().map_or(&[], |r| &r[..]))]);
            let count = self.replies.len() - sent;
            let result = nix::sys::socket::sendmmsg(
                socket.as_raw_fd(),
                &mut self.headers,
                &slices[..count],
                &self.dsts[sent..],
                [],
                MsgFlags::empty(),
            );
            match result {
                Ok(done) => sent += done.count().max(1),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    // The first reply left failed: skip it, send the others.
                    let dst = self.dsts[sent].as_ref().and_then(socket_addr);
                    debug!(?dst, error = %e, "udp send failed");
                    sent += 1;
                }
            }
        }
        self.replies.clear();
        self.dsts.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A client socket (reading with a timeout), a server socket, and the client's address.
    fn sockets() -> (UdpSocket, UdpSocket, SocketAddr) {
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dst = client.local_addr().unwrap();
        (client, server, dst)
    }

    /// The first byte of each of the next `n` datagrams.
    fn first_bytes(client: &UdpSocket, n: usize) -> Vec<u8> {
        let mut buf = [0u8; 64];
        (0..n)
            .map(|_| {
                client.recv(&mut buf).unwrap();
                buf[0]
            })
            .collect()
    }

    // A reply the kernel refuses (larger than any datagram) is skipped, and the replies
    // after it in the same batch still go out, in order.
    #[test]
    fn a_refused_reply_is_skipped_and_the_rest_of_the_batch_is_sent() {
        let (client, server, dst) = sockets();
        // A full batch: the second and the last are refused.
        let mut sender = Sender::default();
        let refused = |i: usize| i == 1 || i == BATCH - 1;
        for i in 0..BATCH {
            let reply = if refused(i) {
                vec![0; 70_000]
            } else {
                vec![i as u8]
            };
            sender.push(&server, reply, dst);
        }
        sender.flush(&server);
        let got = first_bytes(&client, BATCH - 2);
        let want: Vec<u8> = (0..BATCH)
            .filter(|&i| !refused(i))
            .map(|i| i as u8)
            .collect();
        assert_eq!(got, want);
        assert!(sender.replies.is_empty() && sender.dsts.is_empty());
    }

    // More replies than one call sends: a full queue is sent before the next is queued.
    #[test]
    fn more_replies_than_a_batch_all_arrive() {
        let (client, server, dst) = sockets();
        let mut sender = Sender::default();
        for i in 0..BATCH * 2 + 3 {
            sender.push(&server, vec![i as u8], dst);
            assert!(sender.replies.len() <= BATCH);
        }
        sender.flush(&server);
        let got = first_bytes(&client, BATCH * 2 + 3);
        assert_eq!(got, (0..BATCH as u8 * 2 + 3).collect::<Vec<_>>());
    }
}
