//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP) with the parameters every
//! authenticator app reads from an `otpauth://` URI: HMAC-SHA-1, 6 digits, 30-second steps.
//!
//! Written here on `ring`'s HMAC rather than taken from a TOTP crate: the algorithm is a dozen lines
//! (checked below against RFC 6238's Appendix B vectors, and end to end against `pyotp` in
//! e2e/tests/second_factor.rs), `ring` is already in the function (the AWS SDK's TLS), so this adds
//! no dependency; what a crate would add on top — a window check — must be ours anyway, because a
//! code must never be accepted twice (RFC 6238 §5.2), which needs the last used step from the
//! database.

use ring::hmac;
use subtle::ConstantTimeEq as _;

/// Seconds per step.
pub const STEP_SECONDS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Steps accepted either side of now (RFC 6238 §5.2 recommends at most one): a code typed in the
/// last seconds of its step, or a phone's clock a little off, still works.
pub const SKEW_STEPS: u64 = 1;
/// Secret length in bytes: 160 bits, RFC 4226 §4's recommendation and what apps expect for SHA-1.
pub const SECRET_BYTES: usize = 20;

/// The time step containing `unix_seconds`.
pub fn step_at(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}

/// The code of `step` for `secret` (RFC 4226 §5.3 dynamic truncation), as its 6 digits.
pub fn code_at_step(secret: &[u8], step: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]) & 0x7fff_ffff;
    format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS as u32),
        width = DIGITS
    )
}

/// The step of the window around `now_step` whose code is `given`, skipping steps at or before
/// `last_used` (a code, once accepted, never is again — nor any older one). Every step of the
/// window is compared in constant time, whichever matches.
pub fn matching_step(
    secret: &[u8],
    given: &str,
    now_step: u64,
    last_used: Option<u64>,
) -> Option<u64> {
    let mut found = None;
    for step in now_step.saturating_sub(SKEW_STEPS)..=now_step + SKEW_STEPS {
        let expected = code_at_step(secret, step);
        let equal = bool::from(expected.as_bytes().ct_eq(given.as_bytes()));
        if equal && last_used.is_none_or(|last| step > last) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A code as a user may type it: ASCII digits, optionally grouped by spaces or a hyphen ("123 456",
/// as apps show it). Anything else — other scripts' digits, full-width digits, letters, the wrong
/// length — is not a code, and is refused before any comparison.
pub fn normalize_code(raw: &str) -> Option<String> {
    let digits: String = raw
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .chars()
        .filter(|c| *c != ' ' && *c != '-')
        .collect();
    (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// RFC 4648 base32 without padding, as the `secret` of an `otpauth://` URI.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The Key Uri Format URI authenticator apps read (Google Authenticator's, which all follow):
/// `otpauth://totp/Issuer:account?secret=...&issuer=Issuer&algorithm=SHA1&digits=6&period=30`.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        account = percent_encode(account),
        secret = base32(secret),
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters (so `:`, `@`, `&` and spaces in
/// a label or issuer cannot change the URI's structure).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (the 8-digit values, of which ours are the last 6 digits:
    /// the truncated number modulo 10^6).
    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight_digits) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                code_at_step(secret, step_at(time)),
                eight_digits[2..],
                "time {time}"
            );
        }
    }

    #[test]
    fn a_code_is_accepted_once_within_its_window() {
        let secret = b"12345678901234567890";
        let now = step_at(1_234_567_890);
        let code = code_at_step(secret, now);
        assert_eq!(matching_step(secret, &code, now, None), Some(now));
        // Once used, never again, nor an older step's code.
        assert_eq!(matching_step(secret, &code, now, Some(now)), None);
        let previous = code_at_step(secret, now - 1);
        assert_eq!(matching_step(secret, &previous, now, Some(now)), None);
        // ±1 step; two steps away is refused.
        assert_eq!(matching_step(secret, &previous, now, None), Some(now - 1));
        assert_eq!(
            matching_step(secret, &code_at_step(secret, now + 1), now, None),
            Some(now + 1)
        );
        assert_eq!(
            matching_step(secret, &code_at_step(secret, now - 2), now, None),
            None
        );
        assert_eq!(
            matching_step(secret, &code_at_step(secret, now + 2), now, None),
            None
        );
        assert_eq!(matching_step(secret, "000000x", now, None), None);
    }

    #[test]
    fn codes_are_six_ascii_digits_however_grouped() {
        assert_eq!(normalize_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(normalize_code("123-456").as_deref(), Some("123456"));
        assert_eq!(normalize_code("\t123456\n").as_deref(), Some("123456"));
        for bad in [
            "12345",
            "1234567",
            "12345a",
            "１２３４５６",
            "١٢٣٤٥٦",
            "123\u{00a0}456",
            "",
            "+12345",
        ] {
            assert_eq!(normalize_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_matches_rfc_4648() {
        // RFC 4648 §10 (without padding).
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), expected);
        }
    }

    #[test]
    fn uri_escapes_what_could_change_its_structure() {
        let uri = otpauth_uri("Tasks API", "ada@example.com", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Tasks%20API:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tasks%20API&algorithm=SHA1&digits=6&period=30"
        );
        assert!(!otpauth_uri("a&b", "x?secret=y", b"k").contains("&secret=y"));
    }
}
