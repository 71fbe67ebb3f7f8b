//! The binary's configuration: a config file mirrors the environment (which
//! wins), and bad values stop it with a message naming the variable.

use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_mirrors_the_environment() {
    let redis = RedisServer::start();
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("hookbay-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hookbay.env");
    std::fs::write(
        &file,
        format!(
            "# hookbay config\nHOOKBAY_LISTEN=127.0.0.1:{port}\nHOOKBAY_REDIS_URL={}\n\
             HOOKBAY_ADMIN_TOKEN=\"{ADMIN}\"\nHOOKBAY_SECRET_KEY={SECRET}\nHOOKBAY_LOG=warn\n",
            redis.url()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookbay"))
        .args(["serve", "--config"])
        .arg(&file)
        .env_remove("HOOKBAY_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(30), || async {
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let r = http
        .get(format!("{base}/v1/tenants"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the admin token came from the file");
    child.kill().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_stops_with_a_clear_message() {
    let dir = std::env::temp_dir().join(format!("hookbay-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.env");
    std::fs::write(&file, "HOOKBAY_LISTN=1\n").unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookbay"))
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown variable HOOKBAY_LISTN"));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookbay"))
        .arg("serve")
        .env("HOOKBAY_LISTEN", "not-an-address")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOOKBAY_LISTEN"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `HOOKBAY_LISTEN_BACKLOG` sets the listening socket's accept backlog
/// (the kernel shows it as the Send-Q of a listening socket), capped by
/// net.core.somaxconn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listen_backlog_is_configurable() {
    let store = Storage::start(Backend::Embedded);
    for backlog in [100u32, 1_000_000] {
        let mut cfg = config(&store);
        cfg.listen_backlog = backlog;
        let relay = Relay::start_with(cfg).await;
        let port = relay.running.url().rsplit(':').next().unwrap().to_string();
        let out = std::process::Command::new("ss")
            .args(["-ltnH", &format!("sport = :{port}")])
            .output()
            .expect("ss (scripts/ensure-tools installs iproute2)");
        let text = String::from_utf8_lossy(&out.stdout);
        let send_q: u32 = text
            .split_whitespace()
            .nth(2)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("ss output: {text}"));
        let cap: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(send_q, backlog.min(cap), "{text}");
        relay.running.stop().await;
    }
}
