//! The engine's Lua scripts, loaded once per process. Each script file opens
//! with a header documenting its KEYS and ARGV; `common.lua` (shared helpers)
//! is prepended to every one of them.

use redis::Script;

const COMMON: &str = include_str!("lua/common.lua");

fn script(body: &str) -> Script {
    Script::new(&format!("{COMMON}\n{body}"))
}

pub struct Scripts {
    pub ingest: Script,
    pub lease: Script,
    pub settle: Script,
    pub replay: Script,
    pub reap: Script,
    pub drop_queue: Script,
    pub drop_source: Script,
    pub attach_queue: Script,
    pub reserve: Script,
    pub rate: Script,
    pub count_failures: Script,
    pub import: Script,
    pub seal_import: Script,
}

impl Scripts {
    pub fn load() -> Self {
        Scripts {
            ingest: script(include_str!("lua/ingest.lua")),
            lease: script(include_str!("lua/lease.lua")),
            settle: script(include_str!("lua/settle.lua")),
            replay: script(include_str!("lua/replay.lua")),
            reap: script(include_str!("lua/reap.lua")),
            drop_queue: script(include_str!("lua/drop_queue.lua")),
            drop_source: script(include_str!("lua/drop_source.lua")),
            attach_queue: script(include_str!("lua/attach_queue.lua")),
            reserve: script(include_str!("lua/reserve.lua")),
            rate: script(include_str!("lua/rate.lua")),
            count_failures: script(include_str!("lua/count_failures.lua")),
            import: script(include_str!("lua/import.lua")),
            seal_import: script(include_str!("lua/seal_import.lua")),
        }
    }
}
