//! A log writer for the detached EPMD, which has no terminal: each line
//! goes to syslog, facility daemon, as `epmd -daemon` logs.

use std::ffi::CString;
use std::io;

/// Writes each line it is given to syslog.
#[derive(Clone, Copy, Debug)]
pub struct Syslog;

impl Syslog {
    /// Opens the connection to syslog, naming the program `beamlink-epmd`.
    pub fn open() -> Syslog {
        // SAFETY: the identity is a 'static C string, as openlog keeps the pointer.
        unsafe { libc::openlog(c"beamlink-epmd".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        Syslog
    }
}

impl io::Write for Syslog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for line in String::from_utf8_lossy(buf).lines().filter(|l| !l.trim().is_empty()) {
            if let Ok(line) = CString::new(line) {
                // SAFETY: a constant format with one C-string argument.
                unsafe { libc::syslog(libc::LOG_INFO, c"%s".as_ptr(), line.as_ptr()) };
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
