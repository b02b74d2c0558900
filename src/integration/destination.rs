//! Where a subscription's messages may go: no server-side request forgery.
//!
//! A webhook makes this service send requests to an address someone typed in. Unchecked, that
//! someone could point it at what only this service reaches: the database port, a cloud
//! provider's metadata address (`169.254.169.254`), an admin page on the loopback interface.
//! So a destination is an `http` or `https` URL with a host and no credentials in it, and an
//! address in a private, loopback, link-local, shared, multicast or otherwise non-public range,
//! or a `localhost` name, is refused unless the operator started the service with
//! `--webhook-allow-private` (the tests do, their receiver being on loopback).
//!
//! A host name is checked here by its name only: what it resolves to is checked again when a
//! message is sent, on the address actually connected to, so a name that later points at a
//! private address (DNS rebinding) is refused then.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// The longest URL accepted.
pub const MAX_URL_LENGTH: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("the URL is longer than {MAX_URL_LENGTH} characters")]
    TooLong,
    #[error("not a URL: {0}")]
    Malformed(String),
    #[error("the URL's scheme must be https or http, not {0}")]
    Scheme(String),
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("the URL has no host")]
    NoHost,
    #[error(
        "{0} is a private, loopback, link-local or otherwise non-public address; \
         the service refuses them unless started with --webhook-allow-private"
    )]
    NotPublic(String),
}

/// A URL messages may be sent to, checked by [`Destination::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination(Url);

impl Destination {
    /// Checks `text` as a destination; `allow_private` lets non-public addresses through.
    pub fn parse(text: &str, allow_private: bool) -> Result<Self, DestinationError> {
        if text.len() > MAX_URL_LENGTH {
            return Err(DestinationError::TooLong);
        }
        let url = Url::parse(text).map_err(|error| DestinationError::Malformed(error.to_string()))?;
        // As stored and sent again: percent-encoding may have lengthened it.
        if url.as_str().len() > MAX_URL_LENGTH {
            return Err(DestinationError::TooLong);
        }
        if !matches!(url.scheme(), "https" | "http") {
            return Err(DestinationError::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DestinationError::Credentials);
        }
        let public = match url.host().ok_or(DestinationError::NoHost)? {
            Host::Ipv4(address) => is_public(IpAddr::V4(address)),
            Host::Ipv6(address) => is_public(IpAddr::V6(address)),
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name != "localhost" && !name.ends_with(".localhost")
            }
        };
        if !public && !allow_private {
            let host = url.host_str().unwrap_or_default().to_owned();
            return Err(DestinationError::NotPublic(host));
        }
        Ok(Destination(url))
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Whether `address` is reachable on the public internet: none of the ranges IANA reserves for
/// private networks, loopback, link-local, carrier-grade NAT, documentation, benchmarking,
/// multicast or future use (IPv4 within IPv6 judged as IPv4).
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(address: Ipv4Addr) -> bool {
    let [a, b, c, _] = address.octets();
    !(address.is_private()
        || address.is_loopback()
        || address.is_link_local()
        || address.is_unspecified()
        || address.is_broadcast()
        || address.is_multicast()
        || address.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(address: Ipv6Addr) -> bool {
    let [first, second, ..] = address.segments();
    let octets = address.octets();
    // The IPv4 address in the low 32 bits, for the forms that carry one there.
    let low_v4 = Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]);
    // 6to4 carries its IPv4 address in bits 16..48.
    let six_to_four = Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]);
    !(address.is_loopback()
        || address.is_unspecified()
        || address.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first == 0x2001 && second == 0x0db8) // documentation
        || (first == 0x0064 && second == 0xff9b) // IPv4/IPv6 translation (NAT64), well-known and local-use
        || (first == 0 && !is_public_v4(low_v4)) // IPv4-compatible and IPv4-translated (SIIT)
        || (first == 0x2002 && !is_public_v4(six_to_four))) // 6to4 of a non-public IPv4 address
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_https_and_http_urls_pass() {
        for url in [
            "https://example.com/hooks",
            "http://hooks.example.org:8080/in?x=1",
            "https://93.184.215.14/",
            "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/",
        ] {
            let destination = Destination::parse(url, false).expect(url);
            assert!(destination.as_str().starts_with("http"));
        }
    }

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:5432/",
            "http://localhost/",
            "http://api.localhost./",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:0:10.0.0.1]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://[2002:c0a8:101::1]/",
            "http://[fec0::1]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
        ] {
            assert!(
                matches!(
                    Destination::parse(url, false),
                    Err(DestinationError::NotPublic(_))
                ),
                "{url} must be refused"
            );
            assert!(
                Destination::parse(url, true).is_ok(),
                "{url} allowed with the flag"
            );
        }
    }

    #[test]
    fn other_schemes_credentials_and_junk_are_refused_even_when_private_is_allowed() {
        assert!(matches!(
            Destination::parse("ftp://example.com/", true),
            Err(DestinationError::Scheme(_))
        ));
        assert!(matches!(
            Destination::parse("file:///etc/passwd", true),
            Err(DestinationError::Scheme(_))
        ));
        assert!(matches!(
            Destination::parse("https://user:pw@example.com/", true),
            Err(DestinationError::Credentials)
        ));
        assert!(matches!(
            Destination::parse("not a url", true),
            Err(DestinationError::Malformed(_))
        ));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LENGTH));
        assert_eq!(Destination::parse(&long, true), Err(DestinationError::TooLong));
        // Short as typed, too long once percent-encoded (as it would be stored and sent).
        let spaced = format!("https://example.com/{}", "a b".repeat(600));
        assert!(spaced.len() < MAX_URL_LENGTH);
        assert_eq!(Destination::parse(&spaced, true), Err(DestinationError::TooLong));
    }
}
