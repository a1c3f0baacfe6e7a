//! Logging through `log`: into containerd's `log` FIFO in the bundle when
//! serving, to stderr for the short-lived actions. Info level, debug with
//! `-debug`. Lines look like logrus text, as containerd's Go shims write.

use std::fs::File;
use std::io::Write;
use std::sync::Mutex;

use crate::locked::Locked;
use log::{Level, LevelFilter, Log, Metadata, Record};

struct Logger {
    sink: Mutex<Box<dyn Write + Send>>,
    level: LevelFilter,
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let level = match r.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ");
        let msg = r.args().to_string().replace('"', "\\\"");
        let line =
            format!("time=\"{now}\" level={level} msg=\"{msg}\" runtime=io.containerd.rust.v2\n");
        // A full FIFO (containerd not reading) drops the line rather than
        // blocking the shim.
        let _ = self.sink.locked().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = self.sink.locked().flush();
    }
}

fn install(sink: Box<dyn Write + Send>, debug: bool) {
    let level = if debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    if log::set_boxed_logger(Box::new(Logger {
        sink: Mutex::new(sink),
        level,
    }))
    .is_ok()
    {
        log::set_max_level(level);
    }
}

/// Logs into the `log` FIFO containerd created in the bundle. Opened
/// read-write and non-blocking: never blocks, and survives containerd
/// restarting its reader.
pub fn to_fifo(path: &std::path::Path, debug: bool) {
    use std::os::unix::fs::OpenOptionsExt;
    match File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => install(Box::new(f), debug),
        Err(_) => install(Box::new(std::io::sink()), debug),
    }
}

pub fn to_stderr(debug: bool) {
    install(Box::new(std::io::stderr()), debug);
}
