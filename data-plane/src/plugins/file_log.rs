//! file-log (Kong's `kong/plugins/file-log/handler.lua`, PRIORITY 9): appends each
//! request's log entry (`kong.log.serialize()`) as one JSON line to a file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Deserialize;

use super::{InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    path: String,
    reopen: bool,
    custom_fields_by_lua: Option<serde_json::Map<String, serde_json::Value>>,
}

/// One log file, shared by every instance writing to it (and across configurations).
#[derive(Default)]
struct LogFile {
    file: Mutex<Option<File>>,
}

pub struct FileLog {
    path: String,
    reopen: bool,
    file: Arc<LogFile>,
}

/// `custom_fields_by_lua` runs Lua, which this data plane does not: such a configuration
/// is refused rather than logged without the fields.
pub(crate) fn refuse_lua(
    fields: &Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<(), String> {
    match fields {
        Some(f) if !f.is_empty() => {
            Err("custom_fields_by_lua is not supported by this data plane".into())
        }
        _ => Ok(()),
    }
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    refuse_lua(&config.custom_fields_by_lua)?;
    let file = cx
        .state
        .get_or_init(&format!("file-log {}", config.path), LogFile::default);
    Ok(Arc::new(FileLog {
        path: config.path,
        reopen: config.reopen,
        file,
    }))
}

impl FileLog {
    fn open(&self) -> std::io::Result<File> {
        // nginx's log files: created 0644, appended to.
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o644)
            .open(&self.path)
    }

    fn write(&self, line: &[u8]) -> std::io::Result<()> {
        let mut slot = match self.file.file.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if self.reopen || slot.is_none() {
            *slot = Some(self.open()?);
        }
        match slot.as_mut() {
            Some(file) => file.write_all(line),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Plugin for FileLog {
    fn log(&self, kong: &mut Kong<'_>) {
        let Ok(entry) = kong.serialize() else {
            return;
        };
        let mut line = entry.to_string().into_bytes();
        line.push(b'\n');
        if let Err(e) = self.write(&line) {
            tracing::error!(path = %self.path, error = %e, "file-log: cannot write");
        }
    }
}
