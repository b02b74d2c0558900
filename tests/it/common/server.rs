//! The real `foldbank` binary as a child process, for tests of what only a process shows:
//! being killed, two instances on one database, start-up refusals.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::TestDb;

/// The real binary as a child process.
pub struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// The binary serving `db` (both databases when split) on `port`.
    pub async fn start(db: &TestDb, port: u16) -> Server {
        Server::start_with(db, port, &[]).await
    }

    /// [`start`](Server::start), with more arguments.
    pub async fn start_with(db: &TestDb, port: u16, args: &[&str]) -> Server {
        let mut all = vec!["--master-key-file".to_owned(), super::master_key_file()];
        all.extend(args.iter().map(|arg| (*arg).to_owned()));
        Server::start_bare(db, port, &all).await
    }

    /// The binary on `db` with `args` and no master key of the tests' (a test of master keys
    /// gives its own).
    pub async fn start_bare(db: &TestDb, port: u16, args: &[String]) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_foldbank"))
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(db.database_args())
            .args(["--log", "error", "--projection-poll-ms", "50"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the foldbank binary");
        Server::ready(child, port).await
    }

    /// [`start`](Server::start), with its logs (the `filter` directives, as JSON lines) written
    /// to `log`.
    pub async fn start_logging(db: &TestDb, port: u16, filter: &str, log: &std::path::Path) -> Server {
        let file = std::fs::File::create(log).expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_foldbank"))
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(db.cli_args())
            .args([
                "--log",
                filter,
                "--log-format",
                "json",
                "--projection-poll-ms",
                "50",
            ])
            .stdout(file.try_clone().expect("the log file"))
            .stderr(file)
            .spawn()
            .expect("start the foldbank binary");
        Server::ready(child, port).await
    }

    /// Waits until the started `child` answers on `port`.
    async fn ready(child: Child, port: u16) -> Server {
        let server = Server { child, port };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(server.url("/health"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not come up");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGTERM, as `docker stop` sends: waits until the process has exited and answers whether
    /// it exited successfully (a graceful shutdown).
    pub async fn terminate(mut self) -> bool {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(signalled.success(), "SIGTERM sent");
        for _ in 0..1200 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.success();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not stop within a minute of SIGTERM");
    }

    /// SIGKILL: no shutdown, no flush, whatever was in flight is cut off.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `url` and read its JSON body (whatever the status).
pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client
        .get(url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("a JSON body")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// Runs `foldbank <args>` on `db` (both databases when split) to its end (a CLI command, or a
/// server that refuses to start): its exit status and what it printed.
pub async fn run_foldbank(db: &TestDb, args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    all.extend(["--master-key-file".to_owned(), super::master_key_file()]);
    run_foldbank_bare(db, &all).await
}

/// [`run_foldbank`] without the tests' master key.
pub async fn run_foldbank_bare(db: &TestDb, args: &[String]) -> std::process::Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_foldbank"))
        .args(args)
        .args(db.database_args())
        .args(["--log-format", "pretty"])
        .kill_on_drop(true)
        .output();
    // Not a measure of speed: a command that never ends is a failure, not a hung test run.
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .unwrap_or_else(|_| panic!("`foldbank {}` did not finish", args.join(" ")))
        .expect("run the foldbank binary")
}
