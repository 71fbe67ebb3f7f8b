//! The operator commands' arguments (clap): what each command takes.

use clap::{Args, Subcommand};

use super::Target;

#[derive(Subcommand, Debug)]
pub enum TenantsCmd {
    /// Create a tenant (admin token).
    Create {
        name: String,
    },
    List,
    Get {
        id: String,
    },
    /// Delete a tenant and everything it owns.
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokensCmd {
    /// Mint a tenant token; prints the token once.
    Create {
        tenant: String,
        /// Comma-separated: manage,consume,replay,read
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Limit the token to these queues (comma-separated ids).
        #[arg(long, value_delimiter = ',')]
        queues: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long)]
        expires_in: Option<u64>,
    },
    List {
        tenant: String,
    },
    /// Revoke a token at once.
    Revoke {
        tenant: String,
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SourcesCmd {
    /// Create a source (ingest endpoint).
    Create {
        name: String,
        /// Verification preset or scheme type (none, token, hmac, stripe,
        /// github, …; `GET /v1/providers` lists the presets).
        #[arg(long = "type", default_value = "none")]
        kind: String,
        /// A secret (repeat for rotation).
        #[arg(long = "secret")]
        secrets: Vec<String>,
        /// The whole `verification` object as JSON (instead of --type).
        #[arg(long, conflicts_with_all = ["kind", "secrets"])]
        verification: Option<String>,
        /// Extra fields of the create request as a JSON object
        /// (maxBodyBytes, retentionHours, dedupe, eventType, response, …).
        #[arg(long)]
        set: Option<String>,
    },
    List,
    Get {
        id: String,
    },
    /// Change a source: any fields of the PATCH request as a JSON object.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// New secrets (replace all; repeat for rotation).
        #[arg(long = "secret")]
        secrets: Vec<String>,
        #[arg(long)]
        set: Option<String>,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum QueuesCmd {
    /// Create a queue on a source.
    Create {
        source: String,
        name: String,
        /// A filter document (JSON; see docs/routing.md).
        #[arg(long)]
        filter: Option<String>,
        /// Extra fields as JSON (leaseSeconds, maxAttempts, backoff).
        #[arg(long)]
        set: Option<String>,
    },
    List {
        #[arg(long)]
        source: Option<String>,
    },
    Get {
        id: String,
    },
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, conflicts_with = "no_filter")]
        filter: Option<String>,
        /// Remove the filter.
        #[arg(long)]
        no_filter: bool,
        #[arg(long)]
        set: Option<String>,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum MessagesCmd {
    /// A source's messages, newest first.
    List {
        source: String,
        /// How many (default 50); with --all, every page.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        event_type: Option<String>,
        /// name:value (repeatable).
        #[arg(long)]
        header: Vec<String>,
        /// Text the body contains.
        #[arg(long)]
        q: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
    },
    /// One message with its state on each queue.
    Get { id: String },
}

/// Replay: exactly one of --ids, --from/--to, --dead-letters.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    pub queue: String,
    /// Message ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub ids: Vec<String>,
    /// Received from (RFC 3339 or epoch ms), with --to.
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Redrive the dead letters.
    #[arg(long)]
    pub dead_letters: bool,
}

/// The operator commands (everything that calls a relay's API). Each takes
/// `--url`, `--token`, `--profile` and `--json` anywhere after its name.
#[derive(Subcommand, Debug)]
pub enum Ops {
    /// Tenants (admin token).
    Tenants {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: TenantsCmd,
    },
    /// Tenant tokens.
    Tokens {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: TokensCmd,
    },
    /// Sources (ingest endpoints).
    Sources {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: SourcesCmd,
    },
    /// Queues.
    Queues {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: QueuesCmd,
    },
    /// Stored messages.
    Messages {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: MessagesCmd,
    },
    /// A queue's dead letters, oldest first.
    DeadLetters {
        #[command(flatten)]
        target: Target,
        queue: String,
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Deliver messages again on a queue.
    Replay {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        args: ReplayArgs,
    },
    /// Watch messages arrive at a source, without consuming them.
    Tail {
        #[command(flatten)]
        target: Target,
        source: String,
    },
}

impl Ops {
    pub(super) fn target(&self) -> &Target {
        match self {
            Ops::Tenants { target, .. }
            | Ops::Tokens { target, .. }
            | Ops::Sources { target, .. }
            | Ops::Queues { target, .. }
            | Ops::Messages { target, .. }
            | Ops::DeadLetters { target, .. }
            | Ops::Replay { target, .. }
            | Ops::Tail { target, .. } => target,
        }
    }
}
