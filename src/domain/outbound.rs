//! Where the Worker may send a request on a user's behalf (webhooks; later, image URLs): the
//! one rule every outbound URL a user or an operator supplies must pass, at the moment it is
//! supplied and again just before each request (the rule, or the stored URL, may have changed).
//!
//! The URL is parsed as a browser does (WHATWG, the `url` crate), which turns every numeric
//! spelling of an address into one canonical form: `0x7f000001`, `2130706433`, `0177.1`,
//! `127.1`, `127.0.0.1.`, `%31%32%37.0.0.1` and `127。0。0。1` all become `127.0.0.1`; the
//! address is then judged by number. Refused:
//! - schemes other than https, and plain http unless the host is listed (below);
//! - credentials in the URL (they would be stored in clear);
//! - loopback, private, link-local, unique-local, shared (CGNAT), multicast, broadcast,
//!   documentation, benchmarking and reserved addresses, and the IPv6 forms that carry an
//!   IPv4 address (mapped, compatible, NAT64, 6to4), judged by the address they carry;
//! - names that are plainly local: single labels (`intranet`, `metadata`), `localhost` and
//!   `*.localhost`, `*.local`, `*.internal` (`metadata.google.internal`), `*.home.arpa`, `*.lan`…
//!
//! A hostname is not resolved here: a Worker cannot look names up itself, so a public name
//! that resolves to a private address (`127.0.0.1.nip.io`, or DNS rebinding) passes this check.
//! On Cloudflare the runtime's `fetch` refuses private and internal addresses itself; on a
//! self-hosted runtime, restrict its outbound network instead (workerd's `network` service
//! with `allow = ["public"]`).
//!
//! `AllowedHosts` (`WEBHOOK_ALLOW_INSECURE_HOSTS`) lists hosts, `host` or `host:port`, for
//! local development and tests: a listed host is allowed over plain http, and even when it
//! is a loopback or private address.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use worker::url::{Host, Url};

/// Why a URL is refused; the message completes "url …".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    NotAUrl,
    Scheme,
    Insecure,
    Credentials,
    NoHost,
    LocalName,
    InternalAddress(&'static str),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::NotAUrl => f.write_str("is not a valid absolute URL"),
            Refused::Scheme => f.write_str("must be https"),
            Refused::Insecure => f.write_str(
                "must be https (plain http only to a host the operator allows for development)",
            ),
            Refused::Credentials => f.write_str("must not contain credentials"),
            Refused::NoHost => f.write_str("has no host"),
            Refused::LocalName => {
                f.write_str("must name a public host (not a single-label or local name)")
            }
            Refused::InternalAddress(kind) => write!(
                f,
                "must not point to an internal or reserved address ({kind})"
            ),
        }
    }
}

/// Hosts allowed over plain http and even when internal: `host` (any port) or `host:port`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<(Host<String>, Option<u16>)>);

impl AllowedHosts {
    /// Parses a comma-separated list (`127.0.0.1,localhost:8080,[::1]`). Each host is read as
    /// a URL's host, so `127.1` is `127.0.0.1` here as in the URLs it is compared with.
    pub fn parse(list: &str) -> Result<AllowedHosts, String> {
        let mut hosts = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || format!("`{entry}` is not a host or host:port");
            let parse = |scheme: &str| Url::parse(&format!("{scheme}://{entry}/")).ok();
            let (Some(http), Some(https)) = (parse("http"), parse("https")) else {
                return Err(bad());
            };
            let plain = http.path() == "/"
                && http.query().is_none()
                && http.fragment().is_none()
                && http.username().is_empty()
                && http.password().is_none();
            let Some(host) = http.host().filter(|_| plain) else {
                return Err(bad());
            };
            // Each scheme hides its own default port: whichever shows one, it was written.
            let port = http.port().or(https.port());
            hosts.push((normal_host(host), port));
        }
        Ok(AllowedHosts(hosts))
    }

    fn allows(&self, url: &Url) -> bool {
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return false;
        };
        let host = normal_host(host);
        self.0
            .iter()
            .any(|(h, p)| *h == host && p.is_none_or(|p| p == port))
    }
}

/// A host as compared: names without their trailing dots.
fn normal_host(host: Host<&str>) -> Host<String> {
    match host {
        Host::Domain(d) => Host::Domain(d.trim_end_matches('.').to_string()),
        Host::Ipv4(a) => Host::Ipv4(a),
        Host::Ipv6(a) => Host::Ipv6(a),
    }
}

/// The rule: `raw` parsed, if the Worker may send a request there.
pub fn check(raw: &str, allowed: &AllowedHosts) -> Result<Url, Refused> {
    let url = Url::parse(raw).map_err(|_| Refused::NotAUrl)?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(Refused::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Credentials);
    }
    let host = url.host().ok_or(Refused::NoHost)?;
    if allowed.allows(&url) {
        return Ok(url);
    }
    match host {
        Host::Domain(name) => name_refusal(name)?,
        Host::Ipv4(a) => v4_refusal(a).map_or(Ok(()), |k| Err(Refused::InternalAddress(k)))?,
        Host::Ipv6(a) => v6_refusal(a).map_or(Ok(()), |k| Err(Refused::InternalAddress(k)))?,
    }
    if url.scheme() != "https" {
        return Err(Refused::Insecure);
    }
    Ok(url)
}

/// Top-level names that never lead to a public host: special-use names (RFC 6761, 6762,
/// 7686, 8375, 9476), ICANN's private-use `internal`, and the private suffixes RFC 6762
/// (appendix G) found in common use.
const LOCAL_SUFFIXES: [&str; 15] = [
    "localhost",
    "local",
    "internal",
    "localdomain",
    "home",
    "lan",
    "corp",
    "intranet",
    "private",
    "test",
    "invalid",
    "example",
    "onion",
    "alt",
    "arpa",
];

fn name_refusal(name: &str) -> Result<(), Refused> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let Some((_, tld)) = name.rsplit_once('.') else {
        return Err(Refused::LocalName); // a single label (or nothing)
    };
    if tld.is_empty() || LOCAL_SUFFIXES.contains(&tld) {
        return Err(Refused::LocalName);
    }
    Ok(())
}

/// What kind of address this is, when it is not a public unicast one.
pub fn v4_refusal(a: Ipv4Addr) -> Option<&'static str> {
    let [a0, a1, a2, _] = a.octets();
    Some(match (a0, a1, a2) {
        (0, _, _) => "this network, 0.0.0.0/8",
        (10, _, _) | (192, 168, _) => "private",
        (172, b, _) if b & 0xf0 == 16 => "private",
        (100, b, _) if b & 0xc0 == 64 => "shared address space (CGNAT), 100.64.0.0/10",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local (cloud metadata)",
        (192, 0, 0) => "IETF protocol assignments, 192.0.0.0/24",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay anycast",
        (198, b, _) if b & 0xfe == 18 => "benchmarking, 198.18.0.0/15",
        (224..=239, _, _) => "multicast",
        _ if a == Ipv4Addr::BROADCAST => "broadcast",
        (240..=255, _, _) => "reserved, 240.0.0.0/4",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address carries, in the forms that reach it: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`),
/// NAT64's well-known prefix (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::/48`).
fn embedded_v4(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match a.segments() {
        [0, 0, 0, 0, 0, 0xffff, hi, lo]
        | [0, 0, 0, 0, 0xffff, 0, hi, lo]
        | [0, 0, 0, 0, 0, 0, hi, lo]
        | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo]
        | [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

/// What kind of address this is, when it is not a public unicast one.
pub fn v6_refusal(a: Ipv6Addr) -> Option<&'static str> {
    if a.is_loopback() {
        return Some("loopback");
    }
    if a.is_unspecified() {
        return Some("unspecified");
    }
    if let Some(v4) = embedded_v4(a) {
        return v4_refusal(v4);
    }
    let s = a.segments();
    Some(match s[0] {
        0xfc00..=0xfdff => "unique local, fc00::/7",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        0x0064 if s[1] == 0xff9b && s[2] == 1 => "local-use NAT64, 64:ff9b:1::/48",
        // IETF protocol assignments (Teredo, ORCHID, AMT…) and documentation.
        0x2001 if s[1] < 0x0200 => "special-purpose, 2001::/23",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x3fff if s[1] < 0x1000 => "documentation",
        // Only 2000::/3 is allocated as global unicast.
        x if x & 0xe000 != 0x2000 => "reserved",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str, allowed: &AllowedHosts) -> Option<Refused> {
        check(raw, allowed).err()
    }

    #[test]
    fn internal_targets_are_refused_in_every_spelling() {
        let none = AllowedHosts::default();
        let loopback = Some(Refused::InternalAddress("loopback"));
        let private = Some(Refused::InternalAddress("private"));
        let link_local = Some(Refused::InternalAddress("link-local (cloud metadata)"));
        let local_name = Some(Refused::LocalName);
        let cases: &[(&str, Option<Refused>, &str)] = &[
            // Loopback, however it is written.
            ("https://127.0.0.1/", loopback.clone(), "dotted"),
            ("https://127.1/", loopback.clone(), "short form"),
            ("https://127.0.1/", loopback.clone(), "three parts"),
            ("https://0x7f000001/", loopback.clone(), "hex"),
            ("https://0X7F.0.0.1/", loopback.clone(), "hex part"),
            ("https://2130706433/", loopback.clone(), "decimal"),
            ("https://0177.0.0.1/", loopback.clone(), "octal part"),
            ("https://017700000001/", loopback.clone(), "octal"),
            ("https://127.0.0.1./", loopback.clone(), "trailing dot"),
            (
                "https://%31%32%37.0.0.1/",
                loopback.clone(),
                "percent-encoded",
            ),
            (
                "https://127%2E0%2E0%2E1/",
                loopback.clone(),
                "percent-encoded dots",
            ),
            (
                "https://127\u{3002}0\u{3002}0\u{3002}1/",
                loopback.clone(),
                "ideographic dots",
            ),
            (
                "https://\u{ff11}\u{ff12}\u{ff17}.0.0.1/",
                loopback.clone(),
                "fullwidth digits",
            ),
            (
                "https://127.255.255.254:8443/x",
                loopback.clone(),
                "all of 127/8",
            ),
            (
                "https://evil.example.com@127.0.0.1/",
                Some(Refused::Credentials),
                "userinfo",
            ),
            (
                "https://127.0.0.1\\@evil.example.com/",
                loopback.clone(),
                "backslash trick",
            ),
            (
                "https://127.0.0.1#@evil.example.com/",
                loopback.clone(),
                "fragment trick",
            ),
            (
                "https://127.0.0.1?@evil.example.com/",
                loopback.clone(),
                "query trick",
            ),
            ("https://[::1]/", loopback.clone(), "v6 loopback"),
            (
                "https://[0:0:0:0:0:0:0:1]/",
                loopback.clone(),
                "v6 long form",
            ),
            ("https://[::ffff:127.0.0.1]/", loopback.clone(), "v4-mapped"),
            (
                "https://[::ffff:7f00:1]/",
                loopback.clone(),
                "v4-mapped in hex",
            ),
            (
                "https://[::ffff:0:7f00:1]/",
                loopback.clone(),
                "v4-translated",
            ),
            ("https://[::127.0.0.1]/", loopback.clone(), "v4-compatible"),
            ("https://[64:ff9b::7f00:1]/", loopback.clone(), "NAT64"),
            ("https://[2002:7f00:1::]/", loopback.clone(), "6to4"),
            // Nothing, everything.
            (
                "https://0.0.0.0/",
                Some(Refused::InternalAddress("this network, 0.0.0.0/8")),
                "zero",
            ),
            (
                "https://0/",
                Some(Refused::InternalAddress("this network, 0.0.0.0/8")),
                "zero, short",
            ),
            (
                "https://[::]/",
                Some(Refused::InternalAddress("unspecified")),
                "v6 unspecified",
            ),
            (
                "https://255.255.255.255/",
                Some(Refused::InternalAddress("broadcast")),
                "broadcast",
            ),
            (
                "https://0xffffffff/",
                Some(Refused::InternalAddress("broadcast")),
                "broadcast, hex",
            ),
            // Private networks and the cloud metadata service.
            ("https://10.0.0.1/", private.clone(), "10/8"),
            ("https://10.255.255.255/", private.clone(), "10/8 top"),
            ("https://0xa000001/", private.clone(), "10/8 in hex"),
            ("https://172.16.0.1/", private.clone(), "172.16/12"),
            ("https://172.31.255.255/", private.clone(), "172.16/12 top"),
            ("https://192.168.1.1/", private.clone(), "192.168/16"),
            (
                "https://192.168.257/",
                private.clone(),
                "192.168/16, short form",
            ),
            (
                "https://[::ffff:192.168.0.1]/",
                private.clone(),
                "v4-mapped private",
            ),
            (
                "https://[64:ff9b::a00:1]/",
                private.clone(),
                "NAT64 private",
            ),
            (
                "https://[2002:c0a8:101::1]/",
                private.clone(),
                "6to4 private",
            ),
            (
                "https://169.254.169.254/latest/meta-data/",
                link_local.clone(),
                "metadata",
            ),
            (
                "https://2852039166/",
                link_local.clone(),
                "metadata, decimal",
            ),
            (
                "https://[::ffff:a9fe:a9fe]/",
                link_local.clone(),
                "metadata, v4-mapped",
            ),
            (
                "https://[2002:a9fe:a9fe::]/",
                link_local.clone(),
                "metadata, 6to4",
            ),
            (
                "https://100.64.0.1/",
                Some(Refused::InternalAddress(
                    "shared address space (CGNAT), 100.64.0.0/10",
                )),
                "CGNAT",
            ),
            (
                "https://100.100.100.200/",
                Some(Refused::InternalAddress(
                    "shared address space (CGNAT), 100.64.0.0/10",
                )),
                "Alibaba metadata",
            ),
            (
                "https://100.127.255.255/",
                Some(Refused::InternalAddress(
                    "shared address space (CGNAT), 100.64.0.0/10",
                )),
                "CGNAT top",
            ),
            (
                "https://192.0.0.192/",
                Some(Refused::InternalAddress(
                    "IETF protocol assignments, 192.0.0.0/24",
                )),
                "Oracle metadata",
            ),
            (
                "https://192.0.2.1/",
                Some(Refused::InternalAddress("documentation")),
                "TEST-NET-1",
            ),
            (
                "https://198.51.100.7/",
                Some(Refused::InternalAddress("documentation")),
                "TEST-NET-2",
            ),
            (
                "https://203.0.113.9/",
                Some(Refused::InternalAddress("documentation")),
                "TEST-NET-3",
            ),
            (
                "https://192.88.99.1/",
                Some(Refused::InternalAddress("6to4 relay anycast")),
                "6to4 relay",
            ),
            (
                "https://198.18.0.1/",
                Some(Refused::InternalAddress("benchmarking, 198.18.0.0/15")),
                "benchmarking",
            ),
            (
                "https://198.19.255.255/",
                Some(Refused::InternalAddress("benchmarking, 198.18.0.0/15")),
                "benchmarking top",
            ),
            (
                "https://224.0.0.1/",
                Some(Refused::InternalAddress("multicast")),
                "multicast",
            ),
            (
                "https://239.255.255.250/",
                Some(Refused::InternalAddress("multicast")),
                "SSDP",
            ),
            (
                "https://240.0.0.1/",
                Some(Refused::InternalAddress("reserved, 240.0.0.0/4")),
                "class E",
            ),
            (
                "https://[fc00::1]/",
                Some(Refused::InternalAddress("unique local, fc00::/7")),
                "ULA",
            ),
            (
                "https://[fd00:ec2::254]/",
                Some(Refused::InternalAddress("unique local, fc00::/7")),
                "AWS v6 metadata",
            ),
            (
                "https://[fe80::1]/",
                Some(Refused::InternalAddress("link-local")),
                "v6 link-local",
            ),
            (
                "https://[febf::1]/",
                Some(Refused::InternalAddress("link-local")),
                "v6 link-local top",
            ),
            (
                "https://[fec0::1]/",
                Some(Refused::InternalAddress("site-local")),
                "v6 site-local",
            ),
            (
                "https://[ff02::1]/",
                Some(Refused::InternalAddress("multicast")),
                "v6 multicast",
            ),
            (
                "https://[64:ff9b:1::a00:1]/",
                Some(Refused::InternalAddress("local-use NAT64, 64:ff9b:1::/48")),
                "local NAT64",
            ),
            (
                "https://[2001::1]/",
                Some(Refused::InternalAddress("special-purpose, 2001::/23")),
                "Teredo",
            ),
            (
                "https://[2001:db8::1]/",
                Some(Refused::InternalAddress("documentation")),
                "v6 documentation",
            ),
            (
                "https://[3fff::1]/",
                Some(Refused::InternalAddress("documentation")),
                "v6 documentation, 3fff::/20",
            ),
            (
                "https://[100::1]/",
                Some(Refused::InternalAddress("reserved")),
                "discard-only",
            ),
            (
                "https://[4000::1]/",
                Some(Refused::InternalAddress("reserved")),
                "unallocated",
            ),
            (
                "https://[fe80::1%25eth0]/",
                Some(Refused::NotAUrl),
                "zone id",
            ),
            // Names that are plainly local.
            ("https://localhost/", local_name.clone(), "localhost"),
            (
                "https://LOCALHOST./",
                local_name.clone(),
                "upper case, trailing dot",
            ),
            (
                "https://localhost../",
                local_name.clone(),
                "two trailing dots",
            ),
            (
                "https://\u{ff4c}\u{ff4f}\u{ff43}\u{ff41}\u{ff4c}\u{ff48}\u{ff4f}\u{ff53}\u{ff54}/",
                local_name.clone(),
                "fullwidth localhost",
            ),
            (
                "https://loc%61lhost/",
                local_name.clone(),
                "percent-encoded localhost",
            ),
            ("https://api.localhost/", local_name.clone(), "*.localhost"),
            ("https://printer.local/", local_name.clone(), "mDNS"),
            (
                "https://metadata.google.internal/computeMetadata/v1/",
                local_name.clone(),
                "GCP metadata",
            ),
            (
                "https://METADATA.GOOGLE.INTERNAL./",
                local_name.clone(),
                "GCP metadata, shouted",
            ),
            ("https://router.home.arpa/", local_name.clone(), "home.arpa"),
            ("https://nas.lan/", local_name.clone(), "*.lan"),
            (
                "https://1.0.0.127.in-addr.arpa/",
                local_name.clone(),
                "reverse DNS name",
            ),
            ("https://intranet/", local_name.clone(), "single label"),
            (
                "https://metadata/",
                local_name.clone(),
                "single label metadata",
            ),
            ("https://hooks.test/", local_name.clone(), ".test"),
            // Not https, not a URL, credentials.
            (
                "http://hooks.example.com/",
                Some(Refused::Insecure),
                "plain http",
            ),
            (
                "http://127.0.0.1:9000/hook",
                loopback.clone(),
                "http to loopback",
            ),
            ("ftp://hooks.example.com/", Some(Refused::Scheme), "ftp"),
            ("ws://hooks.example.com/", Some(Refused::Scheme), "ws"),
            ("file:///etc/passwd", Some(Refused::Scheme), "file"),
            ("javascript:alert(1)", Some(Refused::Scheme), "javascript"),
            ("data:text/plain,hi", Some(Refused::Scheme), "data"),
            (
                "gopher://127.0.0.1:6379/_INFO",
                Some(Refused::Scheme),
                "gopher",
            ),
            (
                "https://user:pw@hooks.example.com/",
                Some(Refused::Credentials),
                "credentials",
            ),
            (
                "https://user@hooks.example.com/",
                Some(Refused::Credentials),
                "user name",
            ),
            ("/relative", Some(Refused::NotAUrl), "relative"),
            ("", Some(Refused::NotAUrl), "empty"),
            ("https://", Some(Refused::NotAUrl), "no host"),
            ("https://[::1/", Some(Refused::NotAUrl), "unclosed bracket"),
            (
                "https://1.2.3.4.5/",
                Some(Refused::NotAUrl),
                "five numeric parts",
            ),
            (
                "https://256.0.0.1/",
                Some(Refused::NotAUrl),
                "octet out of range",
            ),
            // Public targets pass.
            ("https://hooks.example.com/chatgate", None, "a public name"),
            (
                "https://hooks.example.com:8443/x?y=1",
                None,
                "with a port and query",
            ),
            (
                "https://HOOKS.Example.COM./x",
                None,
                "a public name, shouted, rooted",
            ),
            (
                "https://b\u{fc}cher.example/x",
                local_name.clone(),
                "IDN under .example",
            ),
            ("https://b\u{fc}cher.de/x", None, "IDN"),
            ("https://93.184.215.14/", None, "a public address"),
            ("https://100.128.0.1/", None, "just past CGNAT"),
            ("https://100.63.255.255/", None, "just before CGNAT"),
            ("https://172.32.0.1/", None, "just past 172.16/12"),
            ("https://172.15.255.255/", None, "just before 172.16/12"),
            ("https://169.253.255.255/", None, "just before link-local"),
            ("https://198.20.0.1/", None, "just past benchmarking"),
            ("https://192.0.3.1/", None, "just past TEST-NET-1"),
            ("https://11.0.0.1/", None, "just past 10/8"),
            ("https://223.255.255.255/", None, "just before multicast"),
            (
                "https://[2606:4700:4700::1111]/",
                None,
                "a public v6 address",
            ),
            (
                "https://[2002:5db8:d70e::1]/",
                None,
                "6to4 of a public address",
            ),
            (
                "https://[64:ff9b::5db8:d70e]/",
                None,
                "NAT64 of a public address",
            ),
            (
                "https://[::ffff:93.184.215.14]/",
                None,
                "v4-mapped public address",
            ),
            // The documented limit: names are not resolved.
            (
                "https://127.0.0.1.nip.io/",
                None,
                "a public name resolving to loopback",
            ),
        ];
        for (raw, want, why) in cases {
            assert_eq!(&refused(raw, &none), want, "{why}: {raw}");
        }
    }

    #[test]
    fn the_canonical_form_is_what_is_checked_and_kept() {
        let none = AllowedHosts::default();
        let url = check("https://HOOKS.example.com:443/a/../b", &none).unwrap();
        assert_eq!(url.as_str(), "https://hooks.example.com/b");
        // A v4-mapped address keeps its v6 form; it is judged by the address it carries.
        let url = check("https://[::ffff:93.184.215.14]/", &none).unwrap();
        assert_eq!(url.host_str(), Some("[::ffff:5db8:d70e]"));
    }

    #[test]
    fn listed_hosts_are_allowed_over_http_and_even_when_internal() {
        let allowed =
            AllowedHosts::parse(" 127.0.0.1, localhost:8080 ,[::1], example.org:80,").unwrap();
        for ok in [
            "http://127.0.0.1:9000/hook",
            "http://127.1:9000/hook",
            "http://0x7f000001/",
            "https://127.0.0.1/",
            "http://localhost:8080/",
            "http://LOCALHOST.:8080/",
            "http://[::1]:1/",
            "http://example.org/",
            "http://example.org:80/",
        ] {
            assert!(check(ok, &allowed).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://localhost:8081/", "another port"),
            ("http://localhost/", "the default port is not 8080"),
            ("http://127.0.0.2/", "another loopback address"),
            (
                "http://[::ffff:127.0.0.1]/",
                "another spelling that is another host",
            ),
            ("http://example.org:8080/", "another port"),
            ("http://hooks.example.com/", "not listed"),
            ("http://user:pw@127.0.0.1/", "credentials"),
            ("ftp://127.0.0.1/", "another scheme"),
        ] {
            assert!(check(bad, &allowed).is_err(), "{why}: {bad}");
        }
        assert_eq!(AllowedHosts::parse("").unwrap(), AllowedHosts::default());
        for bad in [
            "http://x",
            "a/b",
            "a b",
            "user@host",
            "[::1",
            "h:99999",
            "h?x",
        ] {
            assert!(AllowedHosts::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_messages_say_what_is_wrong_without_echoing_the_url() {
        let none = AllowedHosts::default();
        let msg = check("https://169.254.169.254/", &none)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("internal or reserved address"), "{msg}");
        assert!(!msg.contains("169.254"), "{msg}");
    }
}
