//! The processes under test, started through tests/support/watchdog.sh so that each whole
//! process group ends when this program does, however it ends; and what /proc says about them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::R;

pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

impl Proc {
    /// Runs `program args…` under the watchdog, in `cwd`, with `envs` added, output to `log`.
    pub fn spawn(
        root: &Path,
        name: &str,
        program: &str,
        args: &[String],
        envs: &[(String, String)],
        log: &Path,
    ) -> R<Proc> {
        let out = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("bash")
            .arg(root.join("tests/support/watchdog.sh"))
            .arg(program)
            .args(args)
            .current_dir(root)
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("start {name}: {e}"))?;
        Ok(Proc {
            name: name.into(),
            log: log.into(),
            child,
        })
    }

    /// The process group the watchdog made (its `setsid` child's pid).
    pub fn group(&self) -> Option<i32> {
        let watchdog = self.child.id() as i32;
        processes()
            .into_iter()
            .find(|p| p.ppid == watchdog)
            .map(|p| p.pid)
    }

    /// Ends the whole group (closing the watchdog's input) and waits for it.
    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::task::spawn_blocking(move || self.child.wait()).await;
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join(" | ")
    }
}

#[derive(Clone, Debug)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    pub comm: String,
    /// User + system CPU time so far, in seconds.
    pub cpu_s: f64,
}

/// USER_HZ, 100 on Linux.
const CLOCK_TICKS: f64 = 100.0;

/// Every process of the machine, from /proc/*/stat.
pub fn processes() -> Vec<ProcInfo> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let open = stat.find('(')?;
            let close = stat.rfind(')')?;
            let comm = stat.get(open + 1..close)?.to_string();
            let rest: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
            // Fields after the command: state, ppid, pgrp, …, utime (12th), stime (13th).
            let ticks: f64 = [11, 12]
                .iter()
                .filter_map(|&i| rest.get(i)?.parse::<f64>().ok())
                .sum();
            Some(ProcInfo {
                pid,
                ppid: rest.get(1)?.parse().ok()?,
                pgrp: rest.get(2)?.parse().ok()?,
                comm,
                cpu_s: ticks / CLOCK_TICKS,
            })
        })
        .collect()
}

/// A workerd process of the server under test.
#[derive(Clone, Debug)]
pub struct Workerd {
    pub pid: i32,
    /// wrangler's own proxy in front of the Worker (bound to the port asked for), as opposed
    /// to the workerd that runs the Worker itself (bound to a free port).
    pub proxy: bool,
}

/// CPU seconds used so far by the processes of a group: (the Worker's workerd, the proxy
/// workerd, everything else: node running wrangler, esbuild, …).
pub fn group_cpu(group: i32) -> (f64, f64, f64) {
    let proxies: Vec<i32> = workerds(group)
        .into_iter()
        .filter(|w| w.proxy)
        .map(|w| w.pid)
        .collect();
    let mut out = (0.0, 0.0, 0.0);
    for p in processes().into_iter().filter(|p| p.pgrp == group) {
        if p.comm == "workerd" && proxies.contains(&p.pid) {
            out.1 += p.cpu_s;
        } else if p.comm == "workerd" {
            out.0 += p.cpu_s;
        } else {
            out.2 += p.cpu_s;
        }
    }
    out
}

pub fn workerds(group: i32) -> Vec<Workerd> {
    processes()
        .into_iter()
        .filter(|p| p.pgrp == group && p.comm == "workerd")
        .map(|p| {
            let cmdline = fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            Workerd {
                pid: p.pid,
                proxy: !cmdline.contains("--socket-addr=entry=127.0.0.1:0"),
            }
        })
        .collect()
}

/// Whether any process of the group is still running.
pub fn group_alive(group: i32) -> bool {
    processes().iter().any(|p| p.pgrp == group)
}

/// How many files (sockets included) a process has open.
pub fn open_files(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Resident memory in bytes (VmRSS).
pub fn rss(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The TCP ports a process listens on (IPv4).
pub fn listening_ports(pid: i32) -> Vec<u16> {
    let inodes: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| fs::read_link(e.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let table = fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (cols.get(1)?, cols.get(3)?, cols.get(9)?);
            if *state != "0A" || !inodes.iter().any(|i| i == inode) {
                return None;
            }
            u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
        })
        .collect()
}

pub fn free_port() -> R<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Polls `url` until it answers 200. Returns the time since `since` and the latency of the
/// request that first succeeded.
pub async fn wait_ok(
    client: &reqwest::Client,
    url: &str,
    since: Instant,
    limit: Duration,
) -> Option<(Duration, Duration)> {
    while since.elapsed() < limit {
        let sent = Instant::now();
        let ok = client
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            return Some((since.elapsed(), sent.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}
