//! Request rates per caller (OWASP API4, unrestricted resource consumption): a token bucket
//! (governor's GCRA) per API key, and per client address for requests without a valid key.
//!
//! - A request with a live key takes from its key's bucket ([`RateLimits::per_caller`], after
//!   authentication): a client cannot spend another caller's allowance by naming that caller's
//!   key id.
//! - A request without a valid key takes from its address's *refused* bucket, which is much
//!   smaller ([`HttpSettings::refused_rate_limit`](crate::http::HttpSettings)): a `401` counts.
//!   Once an address has spent it, its requests are answered `429` before their key is even
//!   looked up, until the bucket refills: a flood of made-up keys costs no database work.
//!   Many clients may share one address (behind a NAT or a proxy), so a key from a blocked
//!   address is still looked up if it checked out lately, or while one more refused bucket,
//!   shared by every blocked address, allows: a guesser can slow the first request of a valid
//!   client behind its address, not lock it out, and all the guessers together cost a bounded
//!   number of lookups a second.
//! - In local development mode a request without a key takes from its address's caller bucket.
//!
//! Over the limit a request is answered `429 too-many-requests` with `Retry-After`. The state is
//! bounded: buckets live in bounded caches ([`moka`]) and are dropped once idle for as long as a
//! bucket takes to refill, when a fresh one is the same. IPv6 clients are counted per /64, the
//! block one host is usually given.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

use crate::auth::Caller;
use crate::http::RateLimit;
use crate::http::problem::ApiError;

/// Buckets kept at most per kind; the least used go first beyond it.
const MAX_BUCKETS: u64 = 100_000;

/// Whose bucket a request takes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Bucket {
    Key(uuid::Uuid),
    /// A client address (`None`: an in-process request, which has no peer).
    Address(Option<IpAddr>),
}

/// A bounded set of token buckets, one per [`Bucket`], all with one quota.
#[derive(Debug, Clone)]
struct Buckets {
    quota: Quota,
    buckets: moka::sync::Cache<Bucket, Arc<DefaultDirectRateLimiter>>,
}

impl Buckets {
    fn new(limit: RateLimit) -> Self {
        let per_second = limit.per_second.max(1);
        let burst = limit.burst.max(1);
        let period = Duration::from_nanos(1_000_000_000 / u64::from(per_second));
        // A zero period (over a billion a second) means no limit worth the name: one a second.
        let quota = Quota::with_period(period)
            .unwrap_or(Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        // A bucket idle this long is full again: forgetting it changes nothing.
        let refill = period.saturating_mul(burst).max(Duration::from_secs(1));
        let buckets = moka::sync::Cache::builder()
            .max_capacity(MAX_BUCKETS)
            .time_to_idle(refill)
            .build();
        Buckets { quota, buckets }
    }

    /// Takes one token from `bucket`'s bucket; `Err(wait)` when it is empty.
    fn take(&self, bucket: Bucket) -> Result<(), Duration> {
        let quota = self.quota;
        let limiter = self
            .buckets
            .get_with(bucket, || Arc::new(DefaultDirectRateLimiter::direct(quota)));
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// The rate limits of one server. Cheap to clone: clones share the buckets.
#[derive(Debug, Clone)]
pub(crate) struct RateLimits {
    callers: Buckets,
    refused: Buckets,
    /// Addresses whose refused bucket ran dry, and until when: answered `429` before any
    /// key lookup.
    blocked: moka::sync::Cache<Option<IpAddr>, Instant>,
    /// Digests of keys that checked out lately: from a blocked address they are still looked
    /// up, so a client that guesses keys cannot lock out a valid key behind the same address.
    recently_valid: moka::sync::Cache<[u8; 32], ()>,
    /// Lookups of other keys from blocked addresses, all addresses together.
    blocked_lookups: Arc<DefaultDirectRateLimiter>,
}

impl RateLimits {
    pub(crate) fn new(callers: RateLimit, refused: RateLimit) -> Self {
        let blocked_lookups = Buckets::new(refused).quota;
        RateLimits {
            callers: Buckets::new(callers),
            refused: Buckets::new(refused),
            blocked_lookups: Arc::new(DefaultDirectRateLimiter::direct(blocked_lookups)),
            blocked: moka::sync::Cache::builder()
                .max_capacity(MAX_BUCKETS)
                .time_to_live(Duration::from_secs(60 * 60))
                .build(),
            recently_valid: moka::sync::Cache::builder()
                .max_capacity(MAX_BUCKETS)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    /// Remembers that the key with this digest checked out.
    pub(crate) fn valid_key(&self, digest: [u8; 32]) {
        self.recently_valid.insert(digest, ());
    }

    /// `429` if `address` spent its allowance of requests without a valid key and must wait,
    /// unless the presented key (its digest) checked out lately, or the lookups shared by every
    /// blocked address still allow one.
    pub(crate) fn check_not_blocked(
        &self,
        address: Option<IpAddr>,
        key: Option<[u8; 32]>,
    ) -> Result<(), ApiError> {
        if key.is_some_and(|digest| self.recently_valid.contains_key(&digest)) {
            return Ok(());
        }
        match self.blocked.get(&address) {
            Some(_) if key.is_some() && self.blocked_lookups.check().is_ok() => Ok(()),
            Some(until) if until > Instant::now() => Err(too_many(until - Instant::now())),
            Some(_) => {
                self.blocked.invalidate(&address);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a request of `address` without a valid key: `Ok` while its allowance lasts,
    /// else `429`, and the address is refused up front until its bucket refills.
    pub(crate) fn charge_refused(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        self.refused.take(Bucket::Address(address)).map_err(|wait| {
            self.blocked.insert(address, Instant::now() + wait);
            too_many(wait)
        })
    }

    /// Middleware, after authentication: the caller's own bucket (its key's, or in local
    /// development mode and on public routes its address's).
    pub(crate) async fn per_caller(
        State(limits): State<RateLimits>,
        request: Request,
        next: Next,
    ) -> Response {
        let bucket = match request
            .extensions()
            .get::<Caller>()
            .and_then(|caller| caller.key_id())
        {
            Some(key_id) => Bucket::Key(key_id),
            None => Bucket::Address(client_address(&request)),
        };
        match limits.callers.take(bucket) {
            Ok(()) => next.run(request).await,
            Err(wait) => too_many(wait).into_response(),
        }
    }
}

fn too_many(wait: Duration) -> ApiError {
    ApiError::RateLimited {
        retry_after_seconds: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

/// Whose address a request comes from, for its bucket: IPv4 as is, IPv6 by its /64.
pub(crate) fn client_address(request: &Request) -> Option<IpAddr> {
    let ConnectInfo(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>()?;
    Some(counted_as(peer.ip()))
}

fn counted_as(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_host_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let same_block: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let other_block: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(counted_as(one), counted_as(same_block));
        assert_ne!(counted_as(one), counted_as(other_block));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(counted_as(mapped), "192.0.2.7".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn a_bucket_refuses_beyond_its_burst_and_idle_buckets_are_forgotten() {
        let buckets = Buckets::new(RateLimit {
            per_second: 1,
            burst: 2,
        });
        let bucket = Bucket::Address(None);
        assert!(buckets.take(bucket).is_ok());
        assert!(buckets.take(bucket).is_ok());
        let wait = buckets.take(bucket).expect_err("the burst is spent");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");

        let many = Buckets::new(RateLimit {
            per_second: 1_000,
            burst: 1,
        });
        for n in 0..=255_u8 {
            let _ = many.take(Bucket::Address(Some(IpAddr::from([10, 0, 0, n]))));
        }
        many.buckets.run_pending_tasks();
        assert_eq!(many.buckets.entry_count(), 256);
        // Full again after a second: such buckets are dropped.
        std::thread::sleep(Duration::from_millis(1_100));
        many.buckets.run_pending_tasks();
        assert_eq!(many.buckets.entry_count(), 0);
    }
}
