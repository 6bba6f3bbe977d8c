//! `ip_country`: the ISO 3166 alpha-3 country of an IP address (IPv4 and IPv6).
//!
//! By default the lookup uses the `iptocc` crate's embedded table, built from the five Regional
//! Internet Registries' delegation statistics (public data, MIT/Apache-2.0 crate): offline, no
//! licence key, no file. `--geoip FILE` uses a MaxMind-format database instead (GeoLite2-Country,
//! DB-IP Lite, …), which is more precise for addresses re-assigned across borders.

use std::net::IpAddr;
use std::path::Path;

use isocountry::CountryCode;
use maxminddb::{PathElement, Reader};

use crate::error::LoadError;

/// An IP → country lookup; clones share the database read.
#[derive(Clone)]
pub enum GeoIp {
    /// The RIR delegation table embedded in the binary.
    Embedded,
    /// A MaxMind-format database read from a file.
    MaxMind(std::sync::Arc<Reader<Vec<u8>>>),
}

impl GeoIp {
    /// Opens a MaxMind-format database.
    pub fn open(path: &Path) -> Result<GeoIp, LoadError> {
        Reader::open_readfile(path)
            .map(|r| GeoIp::MaxMind(std::sync::Arc::new(r)))
            .map_err(|e| LoadError::Open {
                path: path.display().to_string(),
                source: std::io::Error::other(format!(
                    "not a MaxMind-format (.mmdb) database: {e}"
                )),
            })
    }

    /// `ip`'s country; `None` for an empty, invalid, private or unknown address. One byte, where
    /// each IP seen is remembered with its country (its alpha-3 code is the `ip_country`).
    pub fn country_code(&self, ip: &str) -> Option<CountryCode> {
        let addr = ip.trim().parse::<IpAddr>().ok()?;
        let alpha2: Option<String> = match self {
            GeoIp::Embedded => iptocc::country_code(addr).map(str::to_string),
            GeoIp::MaxMind(reader) => reader.lookup(addr).ok().and_then(|r| {
                r.decode_path::<String>(&[
                    PathElement::Key("country"),
                    PathElement::Key("iso_code"),
                ])
                .ok()
                .flatten()
            }),
        };
        CountryCode::for_alpha2_caseless(&alpha2?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_knows_v4_and_v6() {
        let g = GeoIp::Embedded;
        let country = |ip| g.country_code(ip).map(|c| c.alpha3());
        assert_eq!(country("8.8.8.8"), Some("USA"));
        assert_eq!(country("1.0.16.1"), Some("JPN"));
        assert_eq!(country("2001:4860:4860::8888"), Some("USA"));
        assert_eq!(country(""), None);
        assert_eq!(country("not an ip"), None);
        assert_eq!(country("127.0.0.1"), None);
    }
}
