//! Email addresses and their one canonical identity. Two spellings of one address (letter case,
//! NFC vs NFD, fullwidth letters, Greek final sigma, a Unicode domain and its punycode) have the
//! same key; the key is what the unique index, every lookup and every throttle key use.
//!
//! In the spirit of PRECIS UsernameCaseMapped (RFC 8265): width mapping and compatibility
//! normalization (NFKC), full Unicode case folding (so `ß`/`ss` and `ς`/`σ` meet, which
//! lower-casing does not), NFKC again (folding can un-normalize), and the domain through UTS #46
//! (IDNA) to its ASCII form. Invisible, format, control, private-use and unassigned code points
//! are refused rather than stripped: an address that differs from another only by a zero-width
//! joiner is an attack, not a typo. ICU4X does the Unicode work: its normalizer and properties
//! are already what `idna` runs on, so one Unicode version governs every step.

use std::borrow::Cow;

use icu_casemap::CaseMapper;
use icu_normalizer::ComposingNormalizer;
use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
use icu_properties::{CodePointMapData, CodePointSetData};

use crate::error::FieldError;

/// An address as typed (trimmed; kept for mail) and its canonical key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    typed: String,
    key: String,
}

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        let invalid = |msg: &str| FieldError::body(field, msg, "value_error");
        let typed = raw.trim();
        if typed.is_empty() {
            return Err(invalid("Email must not be empty"));
        }
        if typed.chars().count() > Self::MAX_LEN {
            return Err(invalid("Email must be at most 254 characters"));
        }
        if typed.chars().any(|c| c.is_whitespace() || is_invisible(c)) {
            return Err(invalid(
                "Email must not contain spaces, invisible or control characters",
            ));
        }
        let key = canonical_key(typed).ok_or_else(|| invalid("Email is not a valid address"))?;
        Ok(Self {
            typed: typed.to_owned(),
            key,
        })
    }

    /// The address as the user typed it (trimmed): what mail is sent to and what the API shows.
    pub fn as_str(&self) -> &str {
        &self.typed
    }

    /// The canonical identity: `users.email_key`, lookups and throttle keys.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The canonical key of an address that passed the character checks, or `None` when it is not
/// a plausible address (no `@`, an empty or dotted-wrong local part, a domain UTS #46 refuses).
pub fn canonical_key(typed: &str) -> Option<String> {
    let folded = nfkc(&CaseMapper::new().fold_string(&nfkc(typed))).into_owned();
    if folded.chars().any(|c| c.is_whitespace() || is_invisible(c)) {
        return None;
    }
    let (local, domain) = folded.rsplit_once('@')?;
    let valid_local = !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !valid_local {
        return None;
    }
    let domain = idna::domain_to_ascii_strict(domain).ok()?;
    let valid_domain = domain.contains('.')
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    valid_domain.then(|| format!("{local}@{domain}"))
}

fn nfkc(text: &str) -> Cow<'_, str> {
    ComposingNormalizer::new_nfkc().normalize(text)
}

/// Code points that do not show, or show as something else: controls, format characters
/// (zero-width joiners, soft hyphen, BOM, bidi controls), default-ignorables (U+180E, variation
/// selectors), private use, surrogates, unassigned and line/paragraph separators.
fn is_invisible(c: char) -> bool {
    use GeneralCategory::*;
    matches!(
        CodePointMapData::<GeneralCategory>::new().get(c),
        Control | Format | PrivateUse | Surrogate | Unassigned | LineSeparator | ParagraphSeparator
    ) || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(raw: &str) -> String {
        Email::parse(raw, "email")
            .unwrap_or_else(|e| panic!("{raw:?}: {}", e.msg))
            .key()
            .to_owned()
    }

    #[test]
    fn valid_emails() {
        for email in [
            "user@example.com",
            " User.Name+tag@sub.example.co.uk ",
            "a@b.io",
            "renée@example.fr",
            "用户@例子.广告",
        ] {
            assert!(Email::parse(email, "email").is_ok(), "{email}");
        }
        let email = Email::parse(" A@B.io ", "email").unwrap();
        assert_eq!(email.as_str(), "A@B.io", "kept as typed, trimmed");
        assert_eq!(email.key(), "a@b.io");
    }

    #[test]
    fn invalid_emails() {
        for email in [
            "",
            "   ",
            "plain",
            "@example.com",
            "user@",
            "user@localhost",
            "us er@example.com",
            "user@exa mple.com",
            "user@@example.com",
            "user@-example.com",
            "user@example..com",
            ".user@example.com",
            "user.@example.com",
            "us..er@example.com",
            "user@exam\nple.com",
            "user\u{0}@example.com",
            "user@exa_mple.com",
        ] {
            assert!(Email::parse(email, "email").is_err(), "{email:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long, "email").is_err());
    }

    #[test]
    fn spellings_of_one_address_share_a_key() {
        let twins: &[(&str, &str)] = &[
            ("user@example.com", "USER@EXAMPLE.COM"),
            // Greek: capital sigma, final sigma and medial sigma are one letter.
            ("οδος@example.gr", "ΟΔΟΣ@example.gr"),
            ("οδοσ@example.gr", "ΟΔΟΣ@example.gr"),
            // NFC vs NFD.
            ("ren\u{e9}e@example.fr", "rene\u{301}e@example.fr"),
            // Fullwidth letters and at sign, in the local part and the domain.
            (
                "user@example.com",
                "\u{ff55}\u{ff53}\u{ff45}\u{ff52}@example.com",
            ),
            (
                "user@example.com",
                "user@\u{ff45}\u{ff58}\u{ff41}\u{ff4d}\u{ff50}\u{ff4c}\u{ff45}.com",
            ),
            ("user@example.com", "user\u{ff20}example.com"),
            // Full case folding: ß is ss, a ligature is its letters.
            ("strasse@example.de", "STRAẞE@example.de"),
            ("strasse@example.de", "straße@example.de"),
            ("office@example.com", "o\u{fb03}ce@example.com"),
            // A Unicode domain and its punycode.
            ("user@xn--bcher-kva.example", "user@bücher.example"),
            ("user@xn--bcher-kva.example", "user@BÜCHER.example"),
        ];
        for (a, b) in twins {
            assert_eq!(key(a), key(b), "{a} / {b}");
        }
        assert_eq!(key("user@bücher.example"), "user@xn--bcher-kva.example");
    }

    #[test]
    fn dotted_capital_i_is_not_plain_i() {
        // U+0130 folds to i + combining dot above: another address, never the same account
        // under one spelling and another under the other.
        assert_ne!(key("\u{130}nfo@example.com"), key("info@example.com"));
        assert_eq!(
            key("\u{130}NFO@example.com"),
            key("i\u{307}nfo@example.com")
        );
    }

    #[test]
    fn invisible_and_control_characters_are_refused() {
        for c in [
            '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}', '\u{ad}', '\u{180e}',
            '\u{202e}', '\u{fe0f}', '\u{e000}', '\u{7}', '\u{85}', '\u{2028}', '\u{3000}',
        ] {
            for raw in [
                format!("us{c}er@example.com"),
                format!("user@exa{c}mple.com"),
            ] {
                let error = Email::parse(&raw, "email").expect_err(&format!("{raw:?} accepted"));
                assert_eq!(error.kind, "value_error");
            }
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_its_key_is_stable(raw in "\\PC{0,300}") {
            if let Ok(email) = Email::parse(&raw, "email") {
                prop_assert!(email.as_str().contains('@'));
                prop_assert!(email.as_str().chars().count() <= Email::MAX_LEN);
                prop_assert!(!email.as_str().chars().any(char::is_whitespace));
                // Canonicalising the key again changes nothing.
                let again = canonical_key(email.key());
                prop_assert_eq!(again.as_deref(), Some(email.key()));
            }
        }

        #[test]
        fn generated_addresses_parse(local in "[a-z0-9]{1,20}", domain in "[a-z]{1,20}", tld in "[a-z]{2,6}") {
            let email = format!("{local}@{domain}.{tld}");
            let parsed = Email::parse(&email, "email").unwrap();
            prop_assert_eq!(parsed.as_str(), email.as_str());
            prop_assert_eq!(parsed.key(), email.as_str());
            let shouted = email.to_uppercase();
            let shouted = Email::parse(&shouted, "email").unwrap();
            prop_assert_eq!(shouted.key(), email.as_str());
        }
    }
}
