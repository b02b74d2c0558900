//! PostgreSQL URLs that name several hosts, and following the primary among them.
//!
//! libpq accepts `postgres://user@host1:5432,host2:5433/db?target_session_attrs=read-write`:
//! try the hosts in order, keep the first that takes writes. sqlx connects to one host, so this
//! module reads such a URL as one set of connect options per host ([`PgTargets`]), finds the
//! primary before the pool opens, and, while the service runs, checks every second that the
//! host the pool connects to is still the primary ([`follow_the_primary`]). When it is not
//! (the primary died and a standby was promoted), it finds the new one and points the pool's
//! future connections at it: the connections to the old one fail their statements (a command
//! caught in the switch answers `outcome-unknown`, and a retry with the same `Idempotency-Key`
//! applies it once) and are replaced by connections to the new primary; the followers' next
//! round takes their leadership there. Each new connection is checked too, so none is ever
//! made to a standby.
//!
//! Deciding to promote, and fencing the old primary so that it takes no more writes, is the
//! orchestrator's job (Patroni, a managed PostgreSQL): this only follows its decision.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sqlx::{ConnectOptions, Connection};

/// How often the host the pool connects to is checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long finding out whether a host is the primary may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What a connection must be, by the URL's `target_session_attrs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTarget {
    /// `any` (libpq's default): the first host that answers.
    Any,
    /// `read-write` or `primary`: the first host that is not a standby.
    Primary,
}

/// The hosts of a PostgreSQL URL, in its order, and what a connection must be.
#[derive(Debug, Clone)]
pub struct PgTargets {
    hosts: Vec<PgConnectOptions>,
    target: SessionTarget,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    #[error("not a postgres:// URL")]
    NotPostgres,
    #[error("target_session_attrs={0:?} is not supported: use read-write (or primary), or any")]
    UnsupportedTarget(String),
    #[error("host {host} of the URL: {source}")]
    Host {
        host: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("no host of the URL is {wanted}: {tried}")]
    NoneFound { wanted: &'static str, tried: String },
}

impl PgTargets {
    /// Reads a `postgres://` URL naming one host or several, comma-separated.
    pub fn parse(url: &str) -> Result<Self, TargetsError> {
        let (scheme, rest) = url.split_once("://").ok_or(TargetsError::NotPostgres)?;
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => authority.split_at(at + 1),
            None => ("", authority),
        };
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        let mut target = SessionTarget::Any;
        let mut kept = Vec::new();
        for parameter in query.split('&').filter(|parameter| !parameter.is_empty()) {
            match parameter.split_once('=') {
                Some(("target_session_attrs", value)) => {
                    target = match value {
                        "any" => SessionTarget::Any,
                        "read-write" | "primary" => SessionTarget::Primary,
                        other => return Err(TargetsError::UnsupportedTarget(other.to_owned())),
                    }
                }
                _ => kept.push(parameter),
            }
        }
        let query = if kept.is_empty() {
            String::new()
        } else {
            format!("?{}", kept.join("&"))
        };
        let hosts = hosts
            .split(',')
            .map(|host| {
                PgConnectOptions::from_str(&format!("{scheme}://{userinfo}{host}{path}{query}")).map_err(
                    |source| TargetsError::Host {
                        host: host.to_owned(),
                        source,
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PgTargets { hosts, target })
    }

    /// Whether the URL names more than one host: only then is the primary looked for.
    pub fn is_several(&self) -> bool {
        self.hosts.len() > 1
    }

    pub fn target(&self) -> SessionTarget {
        self.target
    }

    /// The first host of the URL.
    pub fn first(&self) -> &PgConnectOptions {
        &self.hosts[0]
    }

    /// The first host, in the URL's order, that answers and is what the URL asks for; with
    /// its index.
    pub async fn find(&self) -> Result<(usize, PgConnectOptions), TargetsError> {
        let mut tried = Vec::new();
        for (index, host) in self.hosts.iter().enumerate() {
            match self.probe(host).await {
                Ok(true) => return Ok((index, host.clone())),
                Ok(false) => tried.push(format!("{}:{} is a standby", host.get_host(), host.get_port())),
                Err(error) => tried.push(format!("{}:{}: {error}", host.get_host(), host.get_port())),
            }
        }
        Err(TargetsError::NoneFound {
            wanted: match self.target {
                SessionTarget::Any => "reachable",
                SessionTarget::Primary => "a primary",
            },
            tried: tried.join("; "),
        })
    }

    /// Whether `host` answers and is what the URL asks for.
    async fn probe(&self, host: &PgConnectOptions) -> Result<bool, sqlx::Error> {
        let probe = async {
            let mut connection = host.connect().await?;
            let fits = fits(&mut connection, self.target).await;
            let _ = connection.close().await;
            fits
        };
        tokio::time::timeout(PROBE_TIMEOUT, probe)
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    }
}

/// Whether `connection` is to a server the target accepts: with [`SessionTarget::Primary`],
/// one not in recovery (a standby).
pub async fn fits(connection: &mut PgConnection, target: SessionTarget) -> Result<bool, sqlx::Error> {
    match target {
        SessionTarget::Any => Ok(true),
        SessionTarget::Primary => {
            let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                .fetch_one(connection)
                .await?;
            Ok(!in_recovery)
        }
    }
}

/// Checks every second, until the pool closes, that the host `pool` connects to (`current`, of
/// `targets`) is still what the URL asks for; when it is not, finds the host that is and
/// points the pool's future connections at it.
pub async fn follow_the_primary(pool: PgPool, targets: PgTargets, mut current: usize) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if pool.is_closed() {
            return;
        }
        if targets.probe(&targets.hosts[current]).await.unwrap_or(false) {
            continue;
        }
        match targets.find().await {
            Ok((found, options)) if found != current => {
                tracing::warn!(
                    from = %format!("{}:{}", targets.hosts[current].get_host(), targets.hosts[current].get_port()),
                    to = %format!("{}:{}", options.get_host(), options.get_port()),
                    "the database's primary moved: new connections go to the new one"
                );
                pool.set_connect_options(options);
                current = found;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "no database host is the primary now; looking again in a second")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_reads_as_one_target() {
        let targets = PgTargets::parse("postgres://postgres@127.0.0.1:5432/bank").expect("parse");
        assert!(!targets.is_several());
        assert_eq!(targets.target(), SessionTarget::Any);
        assert_eq!(targets.first().get_port(), 5432);
        assert_eq!(targets.first().get_database(), Some("bank"));
    }

    #[test]
    fn several_hosts_keep_their_order_user_database_and_other_parameters() {
        let targets = PgTargets::parse(
            "postgresql://app:secret@db1:5433,db2,db3:5435/bank?sslmode=disable&target_session_attrs=read-write&application_name=fb",
        )
        .expect("parse");
        assert!(targets.is_several());
        assert_eq!(targets.target(), SessionTarget::Primary);
        let hosts: Vec<(String, u16)> = targets
            .hosts
            .iter()
            .map(|host| (host.get_host().to_owned(), host.get_port()))
            .collect();
        assert_eq!(
            hosts,
            [
                ("db1".to_owned(), 5433),
                ("db2".to_owned(), 5432),
                ("db3".to_owned(), 5435)
            ]
        );
        for host in &targets.hosts {
            assert_eq!(host.get_username(), "app");
            assert_eq!(host.get_database(), Some("bank"));
            assert_eq!(host.get_application_name(), Some("fb"));
        }
    }

    #[test]
    fn primary_is_a_synonym_and_other_targets_are_refused() {
        let primary = PgTargets::parse("postgres://h1,h2/db?target_session_attrs=primary").expect("parse");
        assert_eq!(primary.target(), SessionTarget::Primary);
        assert!(matches!(
            PgTargets::parse("postgres://h1,h2/db?target_session_attrs=standby"),
            Err(TargetsError::UnsupportedTarget(value)) if value == "standby"
        ));
        assert!(matches!(
            PgTargets::parse("postgres://h1,h2:notaport/db"),
            Err(TargetsError::Host { host, .. }) if host == "h2:notaport"
        ));
    }
}
