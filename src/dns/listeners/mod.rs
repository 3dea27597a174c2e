//! The DNS listeners: UDP and TCP on every listen address, feeding the [`Handler`].
//!
//! UDP answers whatever [`Handler::begin`] settles inline, and relays a query that must go
//! upstream from the same thread ([`Handler::relay`]): no task, unless the first upstream
//! server fails it. Each listen address gets one UDP socket per core (SO_REUSEPORT),
//! each read by a thread of its own, so the kernel spreads queries over the cores. TCP runs
//! one task per connection (bounded in number, closed when idle), answering its queries in
//! order.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use self::connections::Connections;
use crate::dns::framing;
use crate::dns::handler::{Handler, Step, Transport, UdpClient};

mod batch;
pub mod connections;

/// Why the listeners could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({transport}): {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub transport: &'static str,
    #[source]
    pub source: io::Error,
}

/// Limits the listeners apply.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_tcp_connections: usize,
    pub tcp_idle_timeout: Duration,
    /// Threads (and SO_REUSEPORT sockets) per UDP listen address.
    pub udp_threads: usize,
}

/// Running listeners.
pub struct Server {
    local_addrs: Vec<SocketAddr>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// The UDP sockets, so that stopping can wake the threads blocked reading them.
    udp: Vec<Arc<std::net::UdpSocket>>,
}

impl Server {
    /// Binds UDP and TCP on every address (port 0 picks one free port for both) and starts
    /// serving.
    pub async fn start(
        listen: &[SocketAddr],
        limits: Limits,
        handler: Arc<Handler>,
    ) -> Result<Self, BindError> {
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut local_addrs = Vec::new();
        let mut bound = Vec::new();
        let per_address = limits.udp_threads.max(1);
        for &addr in listen {
            let (udp, tcp) = bind_pair(addr, per_address)?;
            let local = udp[0].local_addr().map_err(|source| BindError {
                addr,
                transport: "udp",
                source,
            })?;
            local_addrs.push(local);
            bound.push((udp, tcp));
        }
        // Spawn only once everything is bound. Should a thread fail to start, dropping
        // `server` stops whatever already runs.
        let mut server = Self {
            local_addrs,
            shutdown,
            tracker,
            udp: Vec::new(),
        };
        let connections = Connections::new(limits.max_tcp_connections);
        let runtime = Handle::current();
        for ((udp, tcp), &addr) in bound.into_iter().zip(&server.local_addrs) {
            for socket in udp {
                let (socket, handler) = (Arc::new(socket), handler.clone());
                server.udp.push(socket.clone());
                let (shutdown, tasks, runtime) = (
                    server.shutdown.clone(),
                    server.tracker.clone(),
                    runtime.clone(),
                );
                std::thread::Builder::new()
                    .name("bedrock-link-udp".into())
                    .spawn(move || serve_udp(socket, handler, shutdown, tasks, runtime))
                    .map_err(|source| BindError {
                        addr,
                        transport: "udp",
                        source,
                    })?;
            }
            server.tracker.spawn(serve_tcp(
                tcp,
                handler.clone(),
                server.shutdown.clone(),
                server.tracker.clone(),
                connections.clone(),
                limits.tcp_idle_timeout,
            ));
        }
        Ok(server)
    }

    /// The addresses actually bound (ports filled in), one per listen address.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Stops accepting queries, lets those in flight finish for up to `drain`, and returns
    /// whether everything finished in time.
    pub async fn shutdown(self, drain: Duration) -> bool {
        self.stop_listening();
        self.tracker.close();
        timeout(drain, self.tracker.wait()).await.is_ok()
    }
}

impl Server {
    fn stop_listening(&self) {
        self.shutdown.cancel();
        for socket in &self.udp {
            // On Linux this wakes a thread blocked in recv (which then sees the cancellation),
            // even on an unconnected UDP socket, though it reports ENOTCONN.
            let _ = SockRef::from(&**socket).shutdown(std::net::Shutdown::Read);
        }
    }
}

impl Drop for Server {
    /// The UDP threads are not runtime tasks: tell them to stop even without a shutdown.
    fn drop(&mut self) {
        self.stop_listening();
    }
}

/// UDP threads per listen address unless configured: half the cores (at least 1, at most 8).
///
/// Each relayed query also wakes the first upstream's receiver thread, which wants a core of
/// its own; and a thread that finds several queries waiting answers them in one wake-up,
/// where more threads on the same load would each wake for fewer.
pub fn default_udp_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 8))
}

/// Binds `count` UDP sockets (SO_REUSEPORT) and a TCP listener on the same address and port.
fn bind_pair(
    addr: SocketAddr,
    count: usize,
) -> Result<(Vec<std::net::UdpSocket>, TcpListener), BindError> {
    let udp_err = |source| BindError {
        addr,
        transport: "udp",
        source,
    };
    // With port 0 the kernel picks the UDP port; TCP may find it taken, so try a few times.
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let first = bind_udp(addr).map_err(udp_err)?;
        let bound = SocketAddr::new(addr.ip(), first.local_addr().map_err(udp_err)?.port());
        let mut udp = vec![first];
        for _ in 1..count {
            udp.push(bind_udp(bound).map_err(udp_err)?);
        }
        match bind_tcp(bound) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(source) => last = Some(source),
        }
    }
    Err(BindError {
        addr,
        transport: "tcp",
        source: last.expect("at least one attempt"),
    })
}

fn new_socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv6() {
        // So that [::]:53 and 0.0.0.0:53 can both be listed.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = new_socket(addr, Type::DGRAM, Protocol::UDP)?;
    // Several sockets share the port (one loop each); Linux groups only sockets of one user.
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    // Blocking, read by a thread of its own (woken by `stop_listening`).
    socket.set_nonblocking(false)?;
    Ok(socket.into())
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = new_socket(addr, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// One UDP socket's receive loop, on a thread of its own.
///
/// A blocking receive costs one system call per query, where an async one costs a failed
/// receive, a readiness wait and a second receive: at a steady rate that is most of the CPU an
/// override or cache hit takes. Queries that queue up are read, and answered, in batches
/// ([`batch`]). Queries that must go upstream are sent from here too.
fn serve_udp(
    socket: Arc<std::net::UdpSocket>,
    handler: Arc<Handler>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    runtime: Handle,
) {
    let mut receiver = batch::Receiver::new();
    let mut replies = batch::Sender::default();
    // Refreshes start once the batch's replies are out: a prefetch never delays an answer.
    let mut refreshes = Vec::new();
    while !shutdown.is_cancelled() {
        let count = match receiver.recv(&socket) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                debug!(error = %e, "udp receive failed");
                // Never spin on an error that repeats.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        // What woke a thread at shutdown is an empty read, not a query to count.
        if shutdown.is_cancelled() {
            break;
        }
        for i in 0..count {
            let Some((query, src)) = receiver.get(i) else {
                continue;
            };
            match handler.begin(query, src, Transport::Udp) {
                Step::Reply(reply) => replies.push(&socket, reply, src),
                Step::Refresh(reply, pending) => {
                    replies.push(&socket, reply, src);
                    refreshes.push(pending);
                }
                Step::Drop => {}
                Step::Forward(pending) => {
                    // Sent upstream from this thread; the reply goes out from the thread that
                    // settles it (see `Handler::relay`).
                    let client = UdpClient {
                        socket: socket.clone(),
                        addr: src,
                    };
                    handler.relay(pending, client, &runtime, tracker.token());
                }
            }
        }
        // This thread may block on a full send buffer; it has nothing else to do.
        replies.flush(&socket);
        for pending in refreshes.drain(..) {
            handler.prefetch(pending, &runtime, tracker.token());
        }
    }
}

async fn serve_tcp(
    listener: TcpListener,
    handler: Arc<Handler>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    connections: Arc<Connections>,
    idle: Duration,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    warn!(error = %e, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let Some(slot) = connections.admit() else {
            debug!(%peer, "tcp connection limit reached and none idle; closing the new one");
            continue;
        };
        let (handler, shutdown) = (handler.clone(), shutdown.clone());
        tracker.spawn(serve_connection(
            stream,
            peer,
            handler,
            shutdown,
            tracker.clone(),
            slot,
            idle,
        ));
    }
}

/// Answers the queries of one TCP connection in order (RFC 7766 framing: a 2-byte length).
async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<Handler>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    slot: connections::Slot,
    idle: Duration,
) {
    let _ = stream.set_nodelay(true);
    let evicted = slot.connection.evicted.clone();
    let mut buf = Vec::new();
    loop {
        let len = tokio::select! {
            len = timeout(idle, framing::read_len(&mut stream)) => match len {
                Ok(Ok(len)) => len,
                _ => return, // idle, closed or broken
            },
            _ = shutdown.cancelled() => return,
            _ = evicted.cancelled() => {
                debug!(%peer, "tcp connection closed to make room for a new one");
                return;
            }
        };
        // A client that sends its query slowly is still idle: it may be evicted meanwhile.
        let read = tokio::select! {
            read = timeout(idle, framing::read_body(&mut stream, len, &mut buf)) => read,
            _ = evicted.cancelled() => return,
        };
        if !matches!(read, Ok(Ok(_))) {
            return;
        }
        slot.busy();
        let (reply, refresh) = match handler.begin(&buf, peer, Transport::Tcp) {
            Step::Reply(reply) => (reply, None),
            Step::Refresh(reply, pending) => (reply, Some(pending)),
            Step::Drop => return, // not a query: nothing sensible to say on this stream
            Step::Forward(pending) => (handler.finish(pending).await, None),
        };
        let Some(framed) = framing::frame(&reply) else {
            return;
        };
        let written = timeout(idle, stream.write_all(&framed)).await;
        if let Some(pending) = refresh {
            handler.prefetch(pending, &Handle::current(), tracker.token());
        }
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
        slot.idle();
    }
}
