//! The relying party of passkeys, read from the settings at start (`WEBAUTHN_RP_ID`,
//! `WEBAUTHN_RP_ORIGINS`, `WEBAUTHN_RP_NAME`): a bad value stops the function naming it.

use shared::config::ConfigError;
use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

/// How long a ceremony may take, from options to answer.
pub const CEREMONY_TTL_SECS: i64 = 300;

/// Builds the relying party from `WEBAUTHN_RP_ID` and `WEBAUTHN_RP_ORIGINS` (both or neither),
/// `WEBAUTHN_RP_NAME` optional. Every origin must be exact (`scheme://host[:port]`, nothing
/// after), `https` or `http://localhost`, and its host the RP id or under it.
pub fn from_settings<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Option<Webauthn>, ConfigError> {
    let invalid = |name: &'static str, reason: String| ConfigError::Invalid { name, reason };
    let (rp_id, origins) = match (get("WEBAUTHN_RP_ID"), get("WEBAUTHN_RP_ORIGINS")) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(invalid(
                "WEBAUTHN_RP_ORIGINS",
                "required with WEBAUTHN_RP_ID: the exact origins of the pages that use passkeys, comma-separated".to_owned(),
            ))
        }
        (None, Some(_)) => {
            return Err(invalid(
                "WEBAUTHN_RP_ID",
                "required with WEBAUTHN_RP_ORIGINS: the domain passkeys are bound to (e.g. example.com)".to_owned(),
            ))
        }
        (Some(id), Some(origins)) => (id, origins),
    };
    let valid_id = !rp_id.is_empty()
        && rp_id.len() <= 253
        && rp_id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !rp_id.starts_with('.')
        && !rp_id.ends_with('.');
    if !valid_id {
        return Err(invalid(
            "WEBAUTHN_RP_ID",
            format!("expected a lowercase domain name such as example.com, got {rp_id:?}"),
        ));
    }
    let mut parsed = Vec::new();
    for raw in origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let url = Url::parse(raw).map_err(|error| {
            invalid(
                "WEBAUTHN_RP_ORIGINS",
                format!("{raw:?} is not a URL: {error}"),
            )
        })?;
        // An origin, nothing more: `Url` adds a `/` path to `https://a.example`, so compare its
        // serialised origin with what was written.
        let exact = url.origin().ascii_serialization() == raw;
        let host = url.host_str().unwrap_or("");
        // Browsers treat http://localhost and http://*.localhost as secure contexts (loopback).
        let loopback = host == "localhost" || host.ends_with(".localhost");
        let secure = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        let under_id = host == rp_id || host.ends_with(&format!(".{rp_id}"));
        if !exact || !secure || !under_id {
            return Err(invalid(
                "WEBAUTHN_RP_ORIGINS",
                format!(
                    "{raw:?} must be an exact origin (https://host[:port], or http://localhost[:port] and its subdomains) whose host is {rp_id} or under it"
                ),
            ));
        }
        parsed.push(url);
    }
    let Some((first, rest)) = parsed.split_first() else {
        return Err(invalid(
            "WEBAUTHN_RP_ORIGINS",
            "expected at least one origin".to_owned(),
        ));
    };
    let name = get("WEBAUTHN_RP_NAME").unwrap_or("Tasks API");
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(invalid(
            "WEBAUTHN_RP_NAME",
            "expected a name of at most 64 characters".to_owned(),
        ));
    }
    let builder = WebauthnBuilder::new(rp_id, first)
        .map_err(|error| invalid("WEBAUTHN_RP_ID", error.to_string()))?;
    let builder = rest
        .iter()
        .fold(builder, |builder, origin| {
            builder.append_allowed_origin(origin)
        })
        .rp_name(name)
        .allow_subdomains(false)
        .allow_any_port(false)
        .timeout(std::time::Duration::from_secs(CEREMONY_TTL_SECS as u64));
    builder
        .build()
        .map(Some)
        .map_err(|error| invalid("WEBAUTHN_RP_ID", error.to_string()))
}
