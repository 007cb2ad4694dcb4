//! Upstream socket wrapper enforcing nginx's `proxy_read_timeout` / `proxy_send_timeout`
//! semantics (Kong's service `read_timeout` / `write_timeout`):
//!
//! - write: a write that cannot make progress for `write_timeout` fails;
//! - read: once the request has been sent (the read clock is *armed*), no byte from the
//!   upstream for `read_timeout` fails. Idle pooled connections are disarmed, so waiting
//!   in the pool never times out a connection.
//!
//! Failures surface as `io::ErrorKind::TimedOut`, which the proxy maps to 504.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    u64::try_from(base().elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn instant_of(nanos: u64) -> Instant {
    base() + Duration::from_nanos(nanos)
}

/// Timeouts and the read clock of one upstream connection, shared between the socket
/// wrapper and the request using the connection (for HTTP/2, inside hyper's connection
/// task).
#[derive(Debug, Default)]
pub struct IoControl {
    read_timeout_ms: AtomicU64,
    write_timeout_ms: AtomicU64,
    /// When the read clock was armed (nanoseconds since `base()`); 0 = disarmed.
    read_armed_at: AtomicU64,
}

impl IoControl {
    /// Sets the timeouts of the request about to use the connection (zero: none).
    pub fn set_timeouts(&self, read: Duration, write: Duration) {
        self.read_timeout_ms.store(
            u64::try_from(read.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.write_timeout_ms.store(
            u64::try_from(write.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The request is fully sent: from now on the upstream must answer within the read
    /// timeout.
    pub fn arm_read(&self) {
        self.read_armed_at.store(now_nanos(), Ordering::Release);
    }

    /// The connection goes idle (back to the pool).
    pub fn disarm_read(&self) {
        self.read_armed_at.store(0, Ordering::Release);
    }
}

pub struct TimedIo<T> {
    inner: T,
    ctl: Arc<IoControl>,
    /// When bytes last arrived (nanoseconds since `base()`), taken when a read comes back
    /// pending after data rather than at every read.
    last_read: u64,
    read_since_pending: bool,
    read_sleep: Option<Pin<Box<Sleep>>>,
    write_blocked_since: Option<Instant>,
    write_sleep: Option<Pin<Box<Sleep>>>,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, ctl: Arc<IoControl>) -> TimedIo<T> {
        TimedIo {
            inner,
            ctl,
            last_read: 0,
            read_since_pending: false,
            read_sleep: None,
            write_blocked_since: None,
            write_sleep: None,
        }
    }

    fn timed_out(what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("upstream {what} timed out"),
        )
    }

    /// Pending read: fail if the armed read clock ran out, else make sure we are woken
    /// when it does.
    ///
    /// The timer is moved lazily: the deadline only moves later (each request and each
    /// read push it), so a timer set for an earlier deadline is left alone; when it fires
    /// early, it is set again for the current deadline. A request thus costs no timer
    /// update and no clock read here.
    fn check_read_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if std::mem::take(&mut self.read_since_pending) {
            self.last_read = now_nanos();
        }
        let armed_at = self.ctl.read_armed_at.load(Ordering::Acquire);
        let timeout = self.ctl.read_timeout_ms.load(Ordering::Relaxed);
        if armed_at == 0 || timeout == 0 {
            return Poll::Pending;
        }
        let since = armed_at.max(self.last_read);
        let deadline: tokio::time::Instant =
            (instant_of(since) + Duration::from_millis(timeout)).into();
        loop {
            let sleep = match &mut self.read_sleep {
                Some(s) => {
                    if s.deadline() > deadline {
                        // A shorter timeout than the previous request's.
                        s.as_mut().reset(deadline);
                    }
                    s
                }
                None => self
                    .read_sleep
                    .insert(Box::pin(tokio::time::sleep_until(deadline))),
            };
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if sleep.deadline() >= deadline => {
                    return Poll::Ready(Self::timed_out("read"));
                }
                // Fired for an earlier deadline: wait for the current one.
                Poll::Ready(()) => sleep.as_mut().reset(deadline),
            }
        }
    }

    fn check_write_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.ctl.write_timeout_ms.load(Ordering::Relaxed);
        if timeout == 0 {
            return Poll::Pending;
        }
        let since = *self.write_blocked_since.get_or_insert_with(Instant::now);
        let deadline = since + Duration::from_millis(timeout);
        let sleep = match &mut self.write_sleep {
            Some(s) => {
                if s.deadline() != deadline.into() {
                    s.as_mut().reset(deadline.into());
                }
                s
            }
            None => self
                .write_sleep
                .insert(Box::pin(tokio::time::sleep_until(deadline.into()))),
        };
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Self::timed_out("write")),
            Poll::Pending => Poll::Pending,
        }
    }
}

use std::future::Future;

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.read_since_pending = true;
                Poll::Ready(r)
            }
            Poll::Pending => match this.check_read_deadline(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.write_blocked_since = None;
                Poll::Ready(r)
            }
            Poll::Pending => match this.check_write_deadline(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.write_blocked_since = None;
                Poll::Ready(r)
            }
            Poll::Pending => match this.check_write_deadline(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(r) => {
                this.write_blocked_since = None;
                Poll::Ready(r)
            }
            Poll::Pending => match this.check_write_deadline(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
        Poll::Ready(Ok(()))
    }
}
