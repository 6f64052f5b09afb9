//! Recovery codes: ten single-use codes, each 10 base32 characters (50 random bits), shown once as
//! `xxxxx-xxxxx` and stored as SHA-256 (at 50 bits, guessing one is hopeless whatever the hash,
//! and the attempts are throttled like passwords).

use rand::Rng as _;
use sha2::{Digest, Sha256};

/// Codes per set.
pub const COUNT: usize = 10;
const CHARS: usize = 10;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A new set of codes as shown to the user, and the hashes to store.
pub fn new_set() -> (Vec<String>, Vec<Vec<u8>>) {
    let mut rng = rand::rng();
    let codes: Vec<String> = (0..COUNT)
        .map(|_| {
            let raw: String = (0..CHARS)
                .map(|_| char::from(ALPHABET[rng.random_range(0..32)]))
                .collect();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect();
    let hashes = codes
        .iter()
        .map(|code| hash(&normalize(code).expect("generated codes are well formed")))
        .collect();
    (codes, hashes)
}

/// A recovery code as a user may type it: case-insensitive, with or without the hyphen and spaces.
/// Anything outside the ASCII alphabet (look-alike letters from other scripts, full-width forms) is
/// not a code.
pub fn normalize(raw: &str) -> Option<String> {
    let code: String = raw
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .chars()
        .filter(|c| *c != ' ' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == CHARS && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// The stored form of a normalized code.
pub fn hash(normalized: &str) -> Vec<u8> {
    Sha256::digest(normalized.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_ten_distinct_codes_that_normalize_to_their_hash() {
        let (codes, hashes) = new_set();
        assert_eq!(codes.len(), COUNT);
        assert_eq!(hashes.len(), COUNT);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), COUNT);
        for (code, stored) in codes.iter().zip(&hashes) {
            assert_eq!(code.len(), 11);
            assert_eq!(&hash(&normalize(code).unwrap()), stored);
            let typed = format!("  {} ", code.to_uppercase().replace('-', " "));
            assert_eq!(&hash(&normalize(&typed).unwrap()), stored);
        }
    }

    #[test]
    fn look_alikes_and_wrong_lengths_are_not_codes() {
        assert!(normalize("abcde-fghij").is_some());
        // Cyrillic а, full-width letters, digits outside 2-7, wrong lengths.
        for bad in [
            "аbcde-fghij",
            "ａｂｃｄｅ-fghij",
            "abcde-fghi1",
            "abcde-fghi",
            "abcde-fghijk",
            "",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }
}
