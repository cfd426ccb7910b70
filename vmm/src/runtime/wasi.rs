//! WASI preview 1 for every guest, through `wasmtime-wasi`, beside the vmm imports in the same
//! `Linker`.
//!
//! A guest gets only what its [`WasiConfig`] grants: its arguments, the environment variables
//! given to it, and the host directories preopened for it (none by default), and a private
//! writable root of its own: a fresh host temporary directory preopened at `/` (so relative
//! paths, which wasi-libc resolves against its working directory `/`, land there too), with
//! `/tmp` inside it, removed when the guest ends ([`GuestWasi::private`]). A `--dir` mapped at
//! `/` or `.` replaces the private root, one mapped at `/tmp` its `/tmp`. Clocks and random
//! numbers are the host's. Standard input is empty. Standard output and error are line-buffered
//! per guest and handed on a line at a time to the run's [`StdioSink`], so the lines of guests
//! running at once never interleave inside a line; by default they go to the host's standard
//! output and error, each line after `[guest N] ` when the machine runs several guests.
//!
//! WASI calls read and write guest memory through wasmtime's view of it, like wasm code: a page
//! that is not resident faults in. A pointer past the end of memory is `EFAULT` from WASI; one
//! into an unmapped hole inside it makes the guest trap, as a wasm access there would.

use super::Run;
use anyhow::Context as _;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime::Linker;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

pub use wasmtime_wasi::I32Exit;

/// What a guest's WASI world holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WasiConfig {
    /// `argv[0]`, the program's name.
    pub program: String,
    /// The arguments after it.
    pub args: Vec<String>,
    /// The environment, and nothing else of the host's.
    pub env: Vec<(String, String)>,
    /// Host directories the guest may use, each with the path it sees it at.
    pub dirs: Vec<(PathBuf, String)>,
}

/// Which standard stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

/// Where guests' standard output and error go: (guest index, stream, one line with its newline,
/// or the last unterminated piece when the guest ends).
pub type StdioSink = Arc<dyn Fn(u32, Stream, &[u8]) + Send + Sync>;

/// The host's standard output and error, each line after `[guest N] ` when `count` guests run
/// and `count` is more than one.
pub fn host_stdio(count: u32) -> StdioSink {
    use std::io::Write as _;
    Arc::new(move |i, s, line| {
        let mut buf = Vec::with_capacity(line.len() + 16);
        if count > 1 {
            buf.extend_from_slice(format!("[guest {i}] ").as_bytes());
        }
        buf.extend_from_slice(line);
        // One write of the whole line under the stream's lock.
        let _ = match s {
            Stream::Out => std::io::stdout().lock().write_all(&buf),
            Stream::Err => std::io::stderr().lock().write_all(&buf),
        };
    })
}

/// One guest's standard output or error: bytes gather until a newline, then go to the sink.
pub(crate) struct LineSink {
    run: Arc<Run>,
    guest: u32,
    stream: Stream,
    partial: Mutex<Vec<u8>>,
}

impl LineSink {
    pub(crate) fn new(run: Arc<Run>, guest: u32, stream: Stream) -> Arc<LineSink> {
        Arc::new(LineSink {
            run,
            guest,
            stream,
            partial: Mutex::new(Vec::new()),
        })
    }

    fn write(&self, bytes: &[u8]) {
        let mut p = self.partial.lock();
        p.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(n) = p[start..].iter().position(|&b| b == b'\n') {
            let end = start + n + 1;
            (self.run.stdio)(self.guest, self.stream, &p[start..end]);
            start = end;
        }
        p.drain(..start);
    }

    /// Hands on what is left of an unterminated last line.
    pub(crate) fn finish(&self) {
        let mut p = self.partial.lock();
        if !p.is_empty() {
            (self.run.stdio)(self.guest, self.stream, &p);
            p.clear();
        }
    }
}

#[derive(Clone)]
struct GuestStdout(Arc<LineSink>);

impl IsTerminal for GuestStdout {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStdout {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for GuestStdout {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestStdout {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestStdout {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.0.write(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1 << 20)
    }
}

/// A guest's WASI state and the sinks of its standard output and error.
pub(crate) struct GuestWasi {
    pub ctx: WasiP1Ctx,
    pub out: Arc<LineSink>,
    pub err: Arc<LineSink>,
    /// The guest's private root and `/tmp`: removed from the host when dropped, which the
    /// runtime does once the guest has ended.
    pub private: tempfile::TempDir,
}

impl WasiConfig {
    /// Builds guest `index`'s WASI state, its output going to `run`'s sink.
    pub(crate) fn build(&self, run: &Arc<Run>, index: u32) -> anyhow::Result<GuestWasi> {
        let out = LineSink::new(run.clone(), index, Stream::Out);
        let err = LineSink::new(run.clone(), index, Stream::Err);
        let mut b = WasiCtxBuilder::new();
        b.stdout(GuestStdout(out.clone()))
            .stderr(GuestStdout(err.clone()))
            .arg(&self.program)
            .args(&self.args)
            .envs(&self.env);
        let private = tempfile::Builder::new()
            .prefix(&format!("vmm-guest-{index}-"))
            .tempdir()
            .context("creating the guest's private root")?;
        let tmp = private.path().join("tmp");
        std::fs::create_dir(&tmp).context("creating the guest's /tmp")?;
        let claimed = |paths: &[&str]| self.dirs.iter().any(|(_, g)| paths.contains(&g.as_str()));
        let mut dirs = Vec::new();
        if !claimed(&["/", "."]) {
            dirs.push((private.path().to_path_buf(), "/".to_string()));
        }
        if !claimed(&["/tmp", "/tmp/"]) {
            dirs.push((tmp, "/tmp".to_string()));
        }
        dirs.extend(self.dirs.iter().cloned());
        for (host, guest) in &dirs {
            b.preopened_dir(host, guest, FsPerms::ReadWrite)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("opening {} for the guest", host.display()))?;
        }
        Ok(GuestWasi {
            ctx: b.build_p1(),
            out,
            err,
            private,
        })
    }
}

/// Adds WASI preview 1 (`wasi_snapshot_preview1`) to `linker`; `ctx` finds the guest's
/// [`WasiP1Ctx`] in the store's data, as [`super::abi::add_to_linker`] finds the vmm context.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    ctx: fn(&mut T) -> &mut WasiP1Ctx,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, ctx)
}

/// Parses `HOST[::GUEST]` as wasmtime's CLI does: the guest path defaults to the host path.
pub fn parse_dir(s: &str) -> Result<(PathBuf, String), String> {
    let (host, guest) = match s.split_once("::") {
        Some((h, g)) => (h, g),
        None => (s, s),
    };
    if host.is_empty() || guest.is_empty() {
        return Err(format!("`{s}` is not HOST[::GUEST]"));
    }
    Ok((PathBuf::from(host), guest.to_string()))
}

/// Parses `KEY=VALUE`.
pub fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_guest_gets_its_own_root_and_tmp_and_they_go_when_it_ends() {
        let run = Run::new(2, |_, _| {});
        let cfg = WasiConfig::default();
        let (a, b) = (cfg.build(&run, 0).unwrap(), cfg.build(&run, 1).unwrap());
        assert!(a.private.path().join("tmp").is_dir());
        assert_ne!(a.private.path(), b.private.path());
        let root = a.private.path().to_path_buf();
        std::fs::write(root.join("tmp/file"), "x").unwrap();
        drop(a);
        assert!(!root.exists(), "{} outlived its guest", root.display());
        assert!(b.private.path().join("tmp").is_dir());
    }
}
