//! The byte stream a connection is served over: a plain TCP socket, a TLS session on one, or
//! a unix domain socket (`unixsocket`).
//!
//! Everything that reads or writes a client (the connection loop, Pub/Sub delivery, blocked
//! commands, a replica fed by `replication::primary`) is generic over [`Stream`], so TLS,
//! plain TCP and unix sockets share one code path. The generic code is compiled once per
//! stream type: the plain instances are the same machine code as before TLS existed (their
//! read is the one-syscall `read_tcp`, their write a plain `write_all`), and TLS costs
//! nothing on plain connections.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use super::qbuf::QueryBuf;

/// The socket under a stream, read and written directly where no TLS record is in the way:
/// a TCP socket or a unix domain socket.
pub trait Socket: std::os::fd::AsFd + Send + Sync + 'static {
    /// Waits until the socket may be readable.
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send + '_;
    /// Polls for read readiness without a readiness future: the waker goes in the socket's
    /// single reader slot, not in its list of waiters (no list insertion and removal per
    /// wait). Only the last caller's waker is kept, so use it from one task only.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Waits until the socket may be writable.
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send + '_;
    /// Writes what the socket takes without waiting (WouldBlock when it takes nothing).
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    /// Runs `f` (a raw socket call) and clears the readiness when it returns WouldBlock.
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
    /// How CLIENT LIST names the two ends (`addr`, `laddr`), and whether the peer is local
    /// (loopback, or any unix socket client: protected mode serves it).
    fn endpoints(&self) -> Endpoints;
}

/// A connection's two ends as CLIENT LIST prints them.
pub struct Endpoints {
    pub addr: String,
    pub laddr: String,
    pub local: bool,
    /// A unix socket client (CLIENT LIST flag `U`).
    pub unix: bool,
}

impl Endpoints {
    /// A TCP connection's ends; local when the peer is a loopback address.
    pub fn of_tcp(peer: io::Result<SocketAddr>, local: io::Result<SocketAddr>) -> Endpoints {
        Endpoints {
            addr: peer.as_ref().map(|a| a.to_string()).unwrap_or_default(),
            laddr: local.map(|a| a.to_string()).unwrap_or_default(),
            local: peer.is_ok_and(|a| a.ip().is_loopback()),
            unix: false,
        }
    }

    /// Redis prints `unixsocket` followed by `:0` for both ends of a unix client; the
    /// accepted socket's own address (`local`) is the path the listener was bound to.
    pub fn of_unix(local: io::Result<std::os::unix::net::SocketAddr>) -> Endpoints {
        let path = local
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
            .unwrap_or_default();
        let addr = format!("{path}:0");
        Endpoints {
            laddr: addr.clone(),
            addr,
            local: true,
            unix: true,
        }
    }
}

impl Socket for TcpStream {
    #[inline]
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        TcpStream::readable(self)
    }
    #[inline]
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }
    #[inline]
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        TcpStream::writable(self)
    }
    #[inline]
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        // TcpStream::try_write, with the send made directly (see `raw_send`).
        TcpStream::try_io(self, Interest::WRITABLE, || raw_send(self, buf))
    }
    #[inline]
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        TcpStream::try_io(self, interest, f)
    }
    fn endpoints(&self) -> Endpoints {
        let _ = self.set_nodelay(true);
        Endpoints::of_tcp(self.peer_addr(), self.local_addr())
    }
}

impl Socket for UnixStream {
    #[inline]
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        UnixStream::readable(self)
    }
    #[inline]
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        UnixStream::poll_read_ready(self, cx)
    }
    #[inline]
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        UnixStream::writable(self)
    }
    #[inline]
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        UnixStream::try_write(self, buf)
    }
    #[inline]
    fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        UnixStream::try_io(self, interest, f)
    }
    fn endpoints(&self) -> Endpoints {
        Endpoints::of_unix(self.local_addr().map(Into::into))
    }
}

/// A buffer a stream reads into: a connection's query buffer, or a replica link's `BytesMut`.
pub trait ReadInto: Send {
    /// The free space a read may fill.
    fn spare(&mut self) -> &mut [MaybeUninit<u8>];
    /// Marks `n` more bytes as read.
    ///
    /// # Safety
    /// The first `n` bytes of `spare()` must have been initialised.
    unsafe fn commit(&mut self, n: usize);
}

impl ReadInto for QueryBuf {
    fn spare(&mut self) -> &mut [MaybeUninit<u8>] {
        self.spare_capacity_mut()
    }
    unsafe fn commit(&mut self, n: usize) {
        // SAFETY: passed on from the caller.
        unsafe { QueryBuf::commit(self, n) }
    }
}

impl ReadInto for BytesMut {
    fn spare(&mut self) -> &mut [MaybeUninit<u8>] {
        self.spare_capacity_mut()
    }
    unsafe fn commit(&mut self, n: usize) {
        // SAFETY: passed on from the caller.
        unsafe { self.set_len(self.len() + n) }
    }
}

/// A client's byte stream.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static {
    /// Whether bytes on the socket are TLS records (raw socket reads and writes would be
    /// wrong: the busy responder goes through the session, see `read_client`).
    const TLS: bool;

    /// The socket underneath.
    type Socket: Socket;

    /// The socket underneath (addresses, descriptor, readiness).
    fn socket(&self) -> &Self::Socket;

    /// Reads what is available into the spare capacity of `buf`, returning the byte count
    /// (0 at end of file). Cancel-safe: nothing read is lost when the future is dropped.
    fn read_some<'a, B: ReadInto>(
        &'a mut self,
        buf: &'a mut B,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;

    /// Writes all of `data` and pushes it to the socket (TLS: encrypts and flushes the
    /// session's records, which would otherwise wait for the next write).
    fn send<'a>(&'a mut self, data: &'a [u8]) -> impl Future<Output = io::Result<()>> + Send + 'a;

    /// The session, when this is a TLS connection the server accepted (the busy responder
    /// may answer its client while its worker is stuck in a script).
    #[inline]
    fn tls_server(&mut self) -> Option<&mut TlsServerStream> {
        None
    }
}

/// A plain socket is its own stream: reads and writes go straight to it.
macro_rules! plain_stream {
    ($t:ty) => {
        impl Stream for $t {
            const TLS: bool = false;
            type Socket = $t;

            #[inline]
            fn socket(&self) -> &$t {
                self
            }

            #[inline]
            fn read_some<'a, B: ReadInto>(
                &'a mut self,
                buf: &'a mut B,
            ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
                read_tcp(self, buf)
            }

            #[inline]
            fn send<'a>(
                &'a mut self,
                data: &'a [u8],
            ) -> impl Future<Output = io::Result<()>> + Send + 'a {
                self.write_all(data)
            }
        }
    };
}

plain_stream!(TcpStream);
plain_stream!(UnixStream);

/// A TLS session accepted by the server.
pub type TlsServerStream = tokio_rustls::server::TlsStream<TcpStream>;

/// A TLS session the server opened (a replica's link to a TLS primary).
pub type TlsClientStream = tokio_rustls::client::TlsStream<TcpStream>;

/// Both ends of a TLS session are served the same way: tokio-rustls hands out decrypted
/// bytes it already holds before reading the socket, and its reads keep no state in the
/// future, so dropping one loses nothing; a write is flushed so its last record goes out.
macro_rules! tls_stream {
    ($t:ty, $server:path) => {
        impl Stream for $t {
            const TLS: bool = true;
            type Socket = TcpStream;

            #[inline]
            fn socket(&self) -> &TcpStream {
                self.get_ref().0
            }

            fn read_some<'a, B: ReadInto>(
                &'a mut self,
                buf: &'a mut B,
            ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
                read_async(self, buf)
            }

            async fn send(&mut self, data: &[u8]) -> io::Result<()> {
                self.write_all(data).await?;
                self.flush().await
            }

            #[inline]
            fn tls_server(&mut self) -> Option<&mut TlsServerStream> {
                $server(self)
            }
        }
    };
}

tls_stream!(TlsServerStream, accepted);
tls_stream!(TlsClientStream, opened);

/// `Stream::tls_server` of a session the server accepted: itself.
#[inline]
fn accepted(s: &mut TlsServerStream) -> Option<&mut TlsServerStream> {
    Some(s)
}

/// `Stream::tls_server` of a session the server opened: none.
#[inline]
fn opened(_: &mut TlsClientStream) -> Option<&mut TlsServerStream> {
    None
}

/// A TLS session waiting for its client's next bytes, as the busy responder sees it.
pub struct ParkedTls(*mut TlsServerStream);

// SAFETY: the pointer is dereferenced by one thread at a time: the connection's worker
// thread, or the busy responder while that thread is stuck in a script (see
// `read_tls_parked`).
unsafe impl Send for ParkedTls {}

impl ParkedTls {
    /// A session published in `ClientShared::tls_parked`.
    pub fn new(p: *mut TlsServerStream) -> ParkedTls {
        ParkedTls(p)
    }

    /// The whole stream.
    ///
    /// # Safety
    /// As [`ParkedTls::session`].
    #[allow(clippy::mut_from_ref)]
    unsafe fn stream(&self) -> &mut TlsServerStream {
        // SAFETY: passed on from the caller.
        unsafe { &mut *self.0 }
    }

    /// The session.
    ///
    /// # Safety
    /// Only while the session is published (`read_tls_parked` is pending) and its worker
    /// thread cannot poll it (the thread runs a script), until the responder hands it back.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn session(&self) -> &mut rustls::ServerConnection {
        // SAFETY: passed on from the caller.
        unsafe { (*self.0).get_mut().1 }
    }
}

/// [`Stream::read_some`] for a client connection waiting for its next command: a TLS
/// session the server accepted is published in `parked` meanwhile (see `read_tls_parked`);
/// other streams just read.
#[inline]
pub(crate) async fn read_client<S: Stream, B: ReadInto>(
    stream: &mut S,
    buf: &mut B,
    parked: &std::sync::atomic::AtomicPtr<TlsServerStream>,
) -> io::Result<usize> {
    if S::TLS {
        if let Some(tls) = stream.tls_server() {
            return read_tls_parked(parked, tls, buf).await;
        }
    }
    stream.read_some(buf).await
}

/// Reads a TLS connection's next bytes like [`Stream::read_some`], publishing the session in
/// `parked` while the read waits: if the worker thread gets stuck in a slow script
/// meanwhile, the busy responder reads and answers the client through the session (as it
/// reads plain sockets directly). The read goes through the published pointer at each poll,
/// so no other reference to the session is in use while the responder may hold it.
async fn read_tls_parked<B: ReadInto>(
    parked: &std::sync::atomic::AtomicPtr<TlsServerStream>,
    tls: &mut TlsServerStream,
    buf: &mut B,
) -> io::Result<usize> {
    use std::sync::atomic::Ordering;
    /// Withdraws the session when the read ends or is dropped.
    struct Published<'a>(&'a std::sync::atomic::AtomicPtr<TlsServerStream>);
    impl Drop for Published<'_> {
        fn drop(&mut self) {
            self.0.store(std::ptr::null_mut(), Ordering::Release);
        }
    }
    let p = ParkedTls(tls);
    parked.store(p.0, Ordering::Release);
    let _published = Published(parked);
    std::future::poll_fn(move |cx| {
        // SAFETY: the connection's own task polls this on its worker thread, which is not
        // stuck in a script, so the responder does not hold the session now; the pointer
        // comes from the `&mut` this function borrows for its whole run.
        let reader = unsafe { p.stream() };
        poll_read_into(reader, cx, buf)
    })
    .await
}

/// Reads what the socket (TCP or unix) has into `buf`, returning the byte count (0 at end
/// of file).
///
/// A read that returns less than the free space means the socket is drained. Tokio would
/// learn that only from one more read failing with EAGAIN: one wasted syscall per request at
/// pipeline depth 1. Reporting the short read as WouldBlock from inside `try_io` clears the
/// readiness at once; an edge that arrives meanwhile has a newer tick and is not lost.
pub(crate) async fn read_tcp<S: Socket, B: ReadInto>(stream: &S, buf: &mut B) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        match try_read_tcp(stream, buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

/// One read of an `AsyncRead` (a TLS session) into the free space of `buf`.
async fn read_async<R: AsyncRead + Unpin, B: ReadInto>(
    reader: &mut R,
    buf: &mut B,
) -> io::Result<usize> {
    std::future::poll_fn(|cx| poll_read_into(&mut *reader, cx, buf)).await
}

/// Polls `reader` once for bytes into the free space of `buf`, committing what it filled.
fn poll_read_into<R: AsyncRead + Unpin, B: ReadInto>(
    reader: &mut R,
    cx: &mut Context<'_>,
    buf: &mut B,
) -> Poll<io::Result<usize>> {
    let mut rb = ReadBuf::uninit(buf.spare());
    match Pin::new(reader).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => {
            let n = rb.filled().len();
            // SAFETY: poll_read initialised (filled) the first n bytes of the spare space.
            unsafe { buf.commit(n) };
            Poll::Ready(Ok(n))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// One read of what the socket has, without waiting, as [`read_tcp`] reads once the socket
/// is readable: for a caller that just saw it become readable (awaiting readiness again
/// costs a pass through tokio's readiness machinery per read). WouldBlock when nothing was
/// there after all.
pub(crate) fn try_read_tcp<S: Socket, B: ReadInto>(stream: &S, buf: &mut B) -> io::Result<usize> {
    let mut got = 0usize;
    let res = stream.try_io(Interest::READABLE, || {
        let spare = buf.spare();
        let want = spare.len();
        let n = raw_recv(stream, spare)?;
        got = n;
        if n > 0 && n < want {
            // Drained: clear the readiness now (see `read_tcp`).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match res {
        Ok(n) => {
            // SAFETY: recv initialised the first n bytes of the spare capacity.
            unsafe { buf.commit(n) };
            Ok(n)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => {
            // SAFETY: as above.
            unsafe { buf.commit(got) };
            Ok(got)
        }
        Err(e) => Err(e),
    }
}

/// `recv(fd, buf, len, 0)` as one system call. glibc's `recv` and `send` are cancellation
/// points: each wraps the call in `__pthread_enable_asynccancel` and `..._disable_...`,
/// about 30 instructions per call for nothing here (no thread is ever cancelled); with a
/// read and a write per request at pipeline depth 1 that was about 60 per request.
#[cfg(target_os = "linux")]
#[inline]
fn raw_recv(fd: &impl std::os::fd::AsFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open (borrowed from its owner), the buffer is writable for
    // its length, and a null address with a null length asks for no source address.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd.as_fd().as_raw_fd() as libc::c_long,
            buf.as_mut_ptr(),
            buf.len(),
            0 as libc::c_long,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    byte_count(n)
}

#[cfg(not(target_os = "linux"))]
#[inline]
fn raw_recv(fd: &impl std::os::fd::AsFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    socket2::SockRef::from(fd).recv(buf)
}

/// A byte-count system call's result: the count, or the error in errno.
#[cfg(target_os = "linux")]
#[inline]
fn byte_count(n: libc::c_long) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `send(fd, buf, len, MSG_NOSIGNAL)` (as std sends on a socket) as one system call; see
/// [`raw_recv`].
#[cfg(target_os = "linux")]
#[inline]
fn raw_send(fd: &impl std::os::fd::AsFd, buf: &[u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open (borrowed from its owner), the buffer is readable for
    // its length, and a null address with a zero length names no destination.
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd.as_fd().as_raw_fd() as libc::c_long,
            buf.as_ptr(),
            buf.len(),
            libc::MSG_NOSIGNAL as libc::c_long,
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::c_long,
        )
    };
    byte_count(n)
}

#[cfg(not(target_os = "linux"))]
#[inline]
fn raw_send(fd: &impl std::os::fd::AsFd, buf: &[u8]) -> io::Result<usize> {
    socket2::SockRef::from(fd).send(buf)
}
