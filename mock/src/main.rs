//! `chatgate-mock [--port N]`: the mock upstream as a process, for manual runs
//! and benchmarks. Serves until killed.

use std::process::ExitCode;

use chatgate_mock::MockServer;

const DEFAULT_PORT: u16 = 8788;
const USAGE: &str = "usage: chatgate-mock [--port N]   (default port 8788, 0 for a free one)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let port = match parse_port(std::env::args().skip(1)) {
        Ok(Some(port)) => port,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let server = match MockServer::start_on(port).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("chatgate-mock: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Scripts wait for this exact line before sending requests.
    println!("mock upstream listening on {}", server.base_url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("chatgate-mock: cannot wait for Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The port to serve on, or `None` when help was asked for.
fn parse_port(mut args: impl Iterator<Item = String>) -> Result<Option<u16>, String> {
    let mut port = DEFAULT_PORT;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--port" | "-p" => args.next().ok_or("--port needs a value")?,
            "-h" | "--help" => return Ok(None),
            other => match other.strip_prefix("--port=") {
                Some(value) => value.to_owned(),
                None => return Err(format!("unknown argument: {other}")),
            },
        };
        port = value
            .parse()
            .map_err(|_| format!("not a port number: {value}"))?;
    }
    Ok(Some(port))
}
