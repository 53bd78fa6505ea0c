//! The byte stream a connection is served over: a plain TCP socket or a TLS session on one.
//!
//! Everything that reads or writes a client (the connection loop, Pub/Sub delivery, blocked
//! commands, a replica fed by `replication::primary`) is generic over [`Stream`], so TLS and
//! plain TCP share one code path. The generic code is compiled once per stream type: the
//! plain instance is the same machine code as before TLS existed (its read is the one-syscall
//! `read_tcp`, its write a plain `write_all`), and TLS costs nothing on plain connections.

use std::future::Future;
use std::io;

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::Poll;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::TcpStream;

use super::qbuf::QueryBuf;

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
    /// wrong: the busy responder leaves such connections alone).
    const TLS: bool;

    /// The TCP socket underneath (addresses, descriptor, TCP options).
    fn tcp(&self) -> &TcpStream;

    /// Reads what is available into the spare capacity of `buf`, returning the byte count
    /// (0 at end of file). Cancel-safe: nothing read is lost when the future is dropped.
    fn read_some<'a, B: ReadInto>(
        &'a mut self,
        buf: &'a mut B,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;

    /// Writes all of `data` and pushes it to the socket (TLS: encrypts and flushes the
    /// session's records, which would otherwise wait for the next write).
    fn send<'a>(&'a mut self, data: &'a [u8]) -> impl Future<Output = io::Result<()>> + Send + 'a;
}

impl Stream for TcpStream {
    const TLS: bool = false;

    #[inline]
    fn tcp(&self) -> &TcpStream {
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
    fn send<'a>(&'a mut self, data: &'a [u8]) -> impl Future<Output = io::Result<()>> + Send + 'a {
        self.write_all(data)
    }
}

/// A TLS session accepted by the server.
pub type TlsServerStream = tokio_rustls::server::TlsStream<TcpStream>;

/// A TLS session the server opened (a replica's link to a TLS primary).
pub type TlsClientStream = tokio_rustls::client::TlsStream<TcpStream>;

/// Both ends of a TLS session are served the same way: tokio-rustls hands out decrypted
/// bytes it already holds before reading the socket, and its reads keep no state in the
/// future, so dropping one loses nothing; a write is flushed so its last record goes out.
macro_rules! tls_stream {
    ($t:ty) => {
        impl Stream for $t {
            const TLS: bool = true;

            #[inline]
            fn tcp(&self) -> &TcpStream {
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
        }
    };
}

tls_stream!(TlsServerStream);
tls_stream!(TlsClientStream);

/// Reads what the socket has into `buf`, returning the byte count (0 at end of file).
///
/// A read that returns less than the free space means the socket is drained. Tokio would
/// learn that only from one more read failing with EAGAIN: one wasted syscall per request at
/// pipeline depth 1. Reporting the short read as WouldBlock from inside `try_io` clears the
/// readiness at once; an edge that arrives meanwhile has a newer tick and is not lost.
pub(crate) async fn read_tcp<B: ReadInto>(stream: &TcpStream, buf: &mut B) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        let mut got = 0usize;
        let res = stream.try_io(Interest::READABLE, || {
            let spare = buf.spare();
            let want = spare.len();
            let n = socket2::SockRef::from(stream).recv(spare)?;
            got = n;
            if n > 0 && n < want {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        match res {
            Ok(n) => {
                // SAFETY: recv initialised the first n bytes of the spare capacity.
                unsafe { buf.commit(n) };
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if got > 0 {
                    // SAFETY: as above.
                    unsafe { buf.commit(got) };
                    return Ok(got);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// One read of an `AsyncRead` (a TLS session) into the free space of `buf`.
async fn read_async<R: AsyncRead + Unpin, B: ReadInto>(
    reader: &mut R,
    buf: &mut B,
) -> io::Result<usize> {
    std::future::poll_fn(|cx| {
        let mut rb = ReadBuf::uninit(buf.spare());
        match Pin::new(&mut *reader).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                // SAFETY: poll_read initialised (filled) the first n bytes of the spare space.
                unsafe { buf.commit(n) };
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// One read of what the socket has, without waiting, as [`read_tcp`] reads once the socket
/// is readable: for a caller that just saw it become readable (awaiting readiness again
/// costs a pass through tokio's readiness machinery per read). WouldBlock when nothing was
/// there after all.
pub(crate) fn try_read_tcp<B: ReadInto>(stream: &TcpStream, buf: &mut B) -> io::Result<usize> {
    let mut got = 0usize;
    let res = stream.try_io(Interest::READABLE, || {
        let spare = buf.spare();
        let want = spare.len();
        let n = socket2::SockRef::from(stream).recv(spare)?;
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
