//! The operator CLI's view of a relay: where it is and which token to use
//! (flags, then `HOOKBAY_URL`/`HOOKBAY_TOKEN`, then the profile saved by
//! `hookbay login`), and JSON calls whose errors carry the problem's title
//! and detail.

use std::path::PathBuf;

use serde_json::Value;

/// Where the relay is and who is calling (each may come from a flag, the
/// environment or a saved profile).
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// Relay base URL (else HOOKBAY_URL, else the profile).
    #[arg(long, env = "HOOKBAY_URL", global = true)]
    pub url: Option<String>,
    /// Bearer token: the admin token or a tenant token (else HOOKBAY_TOKEN,
    /// else the profile).
    #[arg(long, env = "HOOKBAY_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Saved profile to use (default: "default").
    #[arg(long, env = "HOOKBAY_PROFILE", global = true)]
    pub profile: Option<String>,
    /// Print one JSON document (stable, for scripts) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A failed call: what to print on stderr.
#[derive(Debug)]
pub struct CliError {
    pub title: String,
    pub detail: String,
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.title)
        } else {
            write!(f, "{}: {}", self.title, self.detail)
        }
    }
}

pub fn fail(title: impl Into<String>, detail: impl Into<String>) -> CliError {
    CliError {
        title: title.into(),
        detail: detail.into(),
    }
}

/// `$XDG_CONFIG_HOME/hookbay/config.toml` (or `~/.config/…`).
pub fn config_path() -> Result<PathBuf, CliError> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| fail("no config directory", "set XDG_CONFIG_HOME or HOME"))?;
    Ok(base.join("hookbay").join("config.toml"))
}

/// The saved profiles document (empty when there is no file yet).
pub fn load_config() -> Result<toml_edit::DocumentMut, CliError> {
    let path = config_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .parse::<toml_edit::DocumentMut>()
            .map_err(|e| fail(format!("cannot read {}", path.display()), e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(fail(
            format!("cannot read {}", path.display()),
            e.to_string(),
        )),
    }
}

/// Save a profile; the file is readable by its owner only (it holds tokens).
pub fn save_profile(name: &str, url: &str, token: &str) -> Result<PathBuf, CliError> {
    let path = config_path()?;
    let mut doc = load_config()?;
    let profiles = doc
        .entry("profiles")
        .or_insert(toml_edit::table())
        .as_table_mut()
        .ok_or_else(|| fail("config.toml", "`profiles` is not a table"))?;
    profiles.set_implicit(true);
    let mut t = toml_edit::Table::new();
    t["url"] = toml_edit::value(url);
    t["token"] = toml_edit::value(token);
    profiles.insert(name, toml_edit::Item::Table(t));
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| fail(format!("cannot create {}", dir.display()), e.to_string()))?;
    write_private(&path, doc.to_string().as_bytes())
        .map_err(|e| fail(format!("cannot write {}", path.display()), e.to_string()))?;
    Ok(path)
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = path.with_extension("toml.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// A relay to call.
pub struct Client {
    http: reqwest::Client,
    pub base: String,
    token: String,
}

impl Target {
    /// The relay and token to use: flags and environment first, then the
    /// profile.
    pub fn client(&self) -> Result<Client, CliError> {
        let name = self.profile.as_deref().unwrap_or("default");
        let doc = load_config()?;
        let saved = |k: &str| {
            doc.get("profiles")
                .and_then(|p| p.get(name))
                .and_then(|p| p.get(k))
                .and_then(|v| v.as_str())
                .map(String::from)
        };
        if self.profile.is_some() && saved("url").is_none() {
            return Err(fail(
                format!("no profile {name:?}"),
                "run hookbay login --profile NAME",
            ));
        }
        let base = self.url.clone().or_else(|| saved("url")).ok_or_else(|| {
            fail(
                "no relay URL",
                "pass --url, set HOOKBAY_URL, or run hookbay login",
            )
        })?;
        let token = self
            .token
            .clone()
            .or_else(|| saved("token"))
            .ok_or_else(|| {
                fail(
                    "no token",
                    "pass --token, set HOOKBAY_TOKEN, or run hookbay login",
                )
            })?;
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| fail("cannot build an HTTP client", e.to_string()))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }
}

impl Client {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// One call; the JSON answer (`null` for 204), or the problem.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .timeout(std::time::Duration::from_secs(60));
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req
            .send()
            .await
            .map_err(|e| fail(format!("cannot reach {}", self.base), e.to_string()))?;
        let status = r.status();
        let text = r
            .text()
            .await
            .map_err(|e| fail("the relay's answer broke off", e.to_string()))?;
        if status.is_success() {
            if text.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text)
                .map_err(|e| fail("the relay's answer is not JSON", e.to_string()));
        }
        let p: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Err(CliError {
            title: p["title"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
            detail: p["detail"].as_str().unwrap_or(text.trim()).to_string(),
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}
