//! Storage made to look far away, for the benchmark's `edge` section only:
//! `BENCH_STORAGE_DELAY_MS` (e.g. `d1=60,kv=5,do=15`) makes each D1 query, KV operation and
//! Durable Object request wait that long before it is sent, as a user far from the database
//! would. Every storage call goes through `store`'s helpers or `durable::fetch`, which wait
//! here. Off unless set, and refused (`Config::get` fails) on a server that is not a
//! development one (`DEV_MAILBOX=on`): wrangler.toml leaves it empty.

use std::cell::Cell;
use std::time::Duration;

/// Milliseconds each kind of storage call waits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delays {
    pub d1: u32,
    pub kv: u32,
    pub durable_object: u32,
}

impl Delays {
    pub fn is_off(&self) -> bool {
        *self == Delays::default()
    }
}

/// Parses `d1=60,kv=5,do=15` (any subset, any order; empty: off).
pub fn parse(value: &str) -> Result<Delays, String> {
    let mut delays = Delays::default();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, ms) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not name=milliseconds"))?;
        let ms: u32 = ms
            .trim()
            .parse()
            .ok()
            .filter(|&ms| ms <= 10_000)
            .ok_or_else(|| format!("`{part}`: milliseconds from 0 to 10000"))?;
        match name.trim() {
            "d1" => delays.d1 = ms,
            "kv" => delays.kv = ms,
            "do" => delays.durable_object = ms,
            other => return Err(format!("`{other}` is not d1, kv or do")),
        }
    }
    Ok(delays)
}

thread_local! {
    static DELAYS: Cell<Delays> = const { Cell::new(Delays { d1: 0, kv: 0, durable_object: 0 }) };
}

/// Sets this isolate's delays (from `Config::get`).
pub fn set(delays: Delays) {
    DELAYS.with(|d| d.set(delays));
}

async fn wait(ms: u32) {
    if ms > 0 {
        worker::Delay::from(Duration::from_millis(u64::from(ms))).await;
    }
}

pub async fn d1() {
    wait(DELAYS.with(|d| d.get().d1)).await
}

pub async fn kv() {
    wait(DELAYS.with(|d| d.get().kv)).await
}

pub async fn durable_object() {
    wait(DELAYS.with(|d| d.get().durable_object)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_read_per_kind_and_nonsense_is_refused() {
        assert_eq!(parse("").unwrap(), Delays::default());
        assert_eq!(
            parse("d1=60, kv=5,do=15").unwrap(),
            Delays {
                d1: 60,
                kv: 5,
                durable_object: 15
            }
        );
        assert_eq!(parse("do=7").unwrap().durable_object, 7);
        for bad in ["d1", "d1=x", "d1=-1", "r2=5", "d1=10001"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
