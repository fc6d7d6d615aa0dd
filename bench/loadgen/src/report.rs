//! The one table, and the description of the machine it was measured on.

use std::fs;
use std::path::Path;
use std::process::Command;

/// One line of the table. Empty cells print as `—`.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub section: String,
    pub measurement: String,
    pub setup: String,
    pub n: String,
    pub median: String,
    pub p99: String,
    /// The baseline's name and its median / p99.
    pub baseline: String,
    pub ratio: String,
    /// Measured minus baseline: median / p99.
    pub added: String,
    /// The difference to the minimal JS Worker of the same shape (bench/floor), e.g.
    /// `B: +6.10 ms / +8.00 ms`: this row's added time minus the floor's, in the same rounds.
    pub floor: String,
    pub target: String,
    /// ✓ or ✗ and the distance to the target (`✗ 4.10 ms over`), or empty.
    pub verdict: String,
    pub notes: String,
}

const HEADER: [&str; 13] = [
    "#",
    "measurement",
    "setup",
    "n",
    "median",
    "p99",
    "baseline: median / p99",
    "ratio (median)",
    "added: median / p99",
    "vs floor: median / p99",
    "target",
    "",
    "notes",
];

fn cell(s: &str) -> String {
    if s.is_empty() {
        "—".into()
    } else {
        s.replace('|', "\\|").replace('\n', " ")
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", HEADER.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(HEADER.len())));
    for r in rows {
        let cells = [
            &r.section,
            &r.measurement,
            &r.setup,
            &r.n,
            &r.median,
            &r.p99,
            &r.baseline,
            &r.ratio,
            &r.added,
            &r.floor,
            &r.target,
            &r.verdict,
            &r.notes,
        ];
        let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// Every row with a target, one line each: the verdict and distance first.
pub fn targets(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows.iter().filter(|r| !r.target.is_empty()) {
        out.push_str(&format!(
            "- {} — {} ({}): {}, target {}{}\n",
            if r.verdict.is_empty() {
                "—"
            } else {
                &r.verdict
            },
            r.measurement,
            r.setup,
            if r.median.is_empty() {
                "—"
            } else {
                &r.median
            },
            r.target,
            if r.floor.is_empty() {
                String::new()
            } else {
                format!("; vs floor {}", r.floor)
            },
        ));
    }
    out
}

/// `✓ 0.52 ms under` / `✗ 4.10 ms over`: `excess` is how far the figure is past its limit
/// (negative: within it), formatted by `unit`.
pub fn verdict(excess: f64, unit: impl Fn(f64) -> String, over: &str, under: &str) -> String {
    if excess <= 0.0 {
        format!("✓ {} {under}", unit(-excess))
    } else {
        format!("✗ {} {over}", unit(excess))
    }
}

fn command(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn first_line_value(path: &str, key: &str) -> String {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn package_version(path: &Path) -> String {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("version")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The machine's CPU time so far, in ticks: (busy, all), from /proc/stat's `cpu` line.
pub fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let all: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    Some((all - idle, all))
}

/// The 1-minute load average now.
pub fn load1() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `(label, value)` pairs describing the machine and the software under test.
pub fn machine(root: &Path, litellm_version: &str) -> Vec<(String, String)> {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kb: f64 = first_line_value("/proc/meminfo", "MemTotal")
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or(0.0);
    let workerd = root.join("node_modules/@cloudflare/workerd-linux-64/bin/workerd");
    vec![
        (
            "date".into(),
            command("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"]),
        ),
        ("nproc".into(), nproc.to_string()),
        (
            "CPU".into(),
            first_line_value("/proc/cpuinfo", "model name"),
        ),
        (
            "memory".into(),
            format!("{:.1} GiB", mem_kb / 1024.0 / 1024.0),
        ),
        (
            "kernel".into(),
            fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
        ),
        ("rustc".into(), command("rustc", &["--version"])),
        (
            "wrangler".into(),
            package_version(&root.join("node_modules/wrangler/package.json")),
        ),
        (
            "workerd".into(),
            format!(
                "{} (npm {})",
                command(&workerd.to_string_lossy(), &["--version"]),
                package_version(
                    &root.join("node_modules/@cloudflare/workerd-linux-64/package.json")
                )
            ),
        ),
        ("node".into(), command("node", &["--version"])),
        ("LiteLLM".into(), litellm_version.into()),
        (
            "chatgate commit".into(),
            command(
                "git",
                &[
                    "-C",
                    &root.to_string_lossy(),
                    "describe",
                    "--always",
                    "--dirty",
                ],
            ),
        ),
    ]
}
