//! The byte stream handed up once TLS is established: tokio-rustls' stream,
//! with one addition. Under TLS 1.3 a client finishes its handshake before
//! the server has judged the client's certificate, so a refusal arrives as
//! an alert on the first read, inside the distribution handshake. This
//! wrapper rewrites such an alert error into a sentence that says what the
//! peer refused.
//!
//! It also reads a close without TLS `close_notify` (a killed peer, or one
//! that drops a refused connection) as the end of the stream, as plain TCP
//! would report it. That hides no forgery: a truncation can only cut the
//! stream between records, and the distribution framing notices a frame cut
//! short. Every other byte and error passes through untouched.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

use super::diagnose;
use crate::pki::CertInfo;

/// An established TLS connection.
pub(crate) struct TlsConn {
    inner: TlsStream<TcpStream>,
    /// Who the peer is (for messages) and our own certificate.
    peer: Arc<str>,
    ours: Arc<CertInfo>,
}

impl TlsConn {
    pub(crate) fn new(inner: TlsStream<TcpStream>, peer: Arc<str>, ours: Arc<CertInfo>) -> TlsConn {
        TlsConn { inner, peer, ours }
    }

    fn explain(&self, e: io::Error) -> io::Error {
        match diagnose::rustls_error(&e) {
            Some(rustls::Error::AlertReceived(desc)) if *desc != rustls::AlertDescription::CloseNotify => {
                let message = format!("{}: {}", self.peer, diagnose::alert(*desc, &self.ours));
                io::Error::new(e.kind(), message)
            }
            _ => e,
        }
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                tracing::debug!(peer = %self.peer, "the peer closed the TLS connection without close_notify");
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.explain(e))),
            other => other,
        }
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.explain(e))),
            other => other,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.explain(e))),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.explain(e))),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
