//! JSON written by hand on the hot paths (the task list, the Lambda response envelope), byte for
//! byte what serde_json and `time::serde::rfc3339` write. Why by hand: callgrind showed serde_json's
//! string escaping through a `BytesMut` writer, one `String` per formatted timestamp and the
//! envelope's second escaping of the whole body as most of a 100-task list's instructions (see
//! README, "Measured so far"); these write into one buffer sized once. The tests compare them
//! with serde_json and `time` over every byte value and random strings and instants.

use time::OffsetDateTime;

/// Bytes serde_json escapes in a string: `"`, `\` and the C0 controls (0x7F and non-ASCII stay).
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `value` as a JSON string (quotes included), escaped exactly as serde_json does.
pub fn write_str(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    write_str_contents(out, value.as_bytes());
    out.push(b'"');
}

/// Appends the escaped contents of a JSON string (no quotes). `bytes` must be UTF-8; non-ASCII
/// is copied as is, like serde_json. Eight bytes at a time: each chunk is stored whole (one 8-byte
/// store) and, when it holds a byte to escape (Mycroft's zero-byte test, as serde_json's parser
/// looks for the end of a string), cut back to that byte, which is escaped, and the next chunk
/// starts after it. Measured with callgrind on a 100-task list: a byte-at-a-time loop cost 15
/// instructions a byte, copying each run between escapes with `extend_from_slice` a libc memcpy
/// call per run (the envelope's body has one per quote: about 1,400), pushing the bytes before
/// an escape one by one more still.
pub fn write_str_contents(out: &mut Vec<u8>, bytes: &[u8]) {
    const ONES: u64 = u64::MAX / 255;
    out.reserve(bytes.len() + bytes.len() / 8 + 8);
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let chars = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let control = chars.wrapping_sub(ONES * 0x20) & !chars;
        let quote = chars ^ (ONES * u64::from(b'"'));
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = chars ^ (ONES * u64::from(b'\\'));
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        let flags = (control | quote | backslash) & (ONES << 7);
        out.extend_from_slice(&chars.to_le_bytes());
        if flags == 0 {
            at += 8;
            continue;
        }
        // A flag can be false only above a true one: the lowest is the first byte to escape.
        let offset = (flags.trailing_zeros() / 8) as usize;
        out.truncate(out.len() - 8 + offset);
        match chunk[offset] {
            b'"' => out.extend_from_slice(b"\\\""),
            byte => write_escape(out, byte),
        }
        at += offset + 1;
    }
    for &byte in &bytes[at..] {
        if NEEDS_ESCAPE[byte as usize] {
            write_escape(out, byte);
        } else {
            out.push(byte);
        }
    }
}

/// The escape of one byte that needs it, as serde_json writes it.
fn write_escape(out: &mut Vec<u8>, byte: u8) {
    match byte {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(byte >> 4) as usize],
            HEX[(byte & 0xf) as usize],
        ]),
    }
}

/// JSON text that serde_json's serializer writes as it is, without parsing it again (as it does
/// for its `RawValue`, by this private name: `RawValue::from_string` would re-parse the whole
/// envelope, which callgrind counted at a fifth of a 100-task list). If serde_json ever renamed
/// it, the text would come out as an object and `shared/tests/envelope.rs` would fail.
pub struct Raw(pub String);

const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl serde::Serialize for Raw {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut raw = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
        raw.serialize_field(RAW_VALUE_TOKEN, self.0.as_str())?;
        raw.end()
    }
}

/// Appends `at` as a JSON string in RFC 3339, as `time::serde::rfc3339` writes it: whole seconds,
/// then a fraction without trailing zeros when there is one, then `Z` for UTC. Instants that
/// format differently (another offset) or not at all (a year beyond 0..=9999) go through `time`.
pub fn write_rfc3339(out: &mut Vec<u8>, at: OffsetDateTime) -> Result<(), time::error::Format> {
    if !at.offset().is_utc() || !(0..10_000).contains(&at.year()) {
        let text = at.format(&time::format_description::well_known::Rfc3339)?;
        write_str(out, &text);
        return Ok(());
    }
    let (year, month, day) = at.to_calendar_date();
    let (hour, minute, second, nanos) = at.to_hms_nano();
    let year = year as u32;
    let two = |n: u8| [b'0' + n / 10, b'0' + n % 10];
    let mut text = [0u8; 32];
    text[0] = b'"';
    text[1] = b'0' + (year / 1000) as u8;
    text[2] = b'0' + (year / 100 % 10) as u8;
    text[3] = b'0' + (year / 10 % 10) as u8;
    text[4] = b'0' + (year % 10) as u8;
    text[5] = b'-';
    text[6..8].copy_from_slice(&two(month as u8));
    text[8] = b'-';
    text[9..11].copy_from_slice(&two(day));
    text[11] = b'T';
    text[12..14].copy_from_slice(&two(hour));
    text[14] = b':';
    text[15..17].copy_from_slice(&two(minute));
    text[17] = b':';
    text[18..20].copy_from_slice(&two(second));
    let mut end = 20;
    if nanos != 0 {
        text[end] = b'.';
        let mut digits = nanos;
        for place in (0..9).rev() {
            text[end + 1 + place] = b'0' + (digits % 10) as u8;
            digits /= 10;
        }
        end += 10;
        while text[end - 1] == b'0' {
            end -= 1;
        }
    }
    text[end] = b'Z';
    text[end + 1] = b'"';
    out.extend_from_slice(&text[..end + 2]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(value: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn raw_text_is_written_as_it_is() {
        let raw = Raw(r#"{"a":[1,"\u0041"]}"#.to_owned());
        assert_eq!(
            serde_json::to_string(&[raw]).unwrap(),
            r#"[{"a":[1,"\u0041"]}]"#
        );
    }

    #[test]
    fn escapes_are_found_at_every_position_of_an_eight_byte_chunk() {
        for len in 0..40 {
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = special;
                    let value = String::from_utf8(bytes).unwrap();
                    assert_eq!(ours(&value), serde_json::to_string(&value).unwrap());
                }
            }
        }
    }

    #[test]
    fn every_ascii_byte_escapes_as_serde_json_does() {
        for byte in 0u8..=0x7f {
            let value = format!("a{}b", byte as char);
            assert_eq!(
                ours(&value),
                serde_json::to_string(&value).unwrap(),
                "{byte:#x}"
            );
        }
        for value in [
            "",
            "\u{2028}\u{2029}",
            "🦀 日本語 é",
            "\"\\\"",
            "\u{7f}\u{80}",
        ] {
            assert_eq!(ours(value), serde_json::to_string(value).unwrap());
        }
    }

    fn rfc3339(at: OffsetDateTime) -> String {
        let mut out = Vec::new();
        write_rfc3339(&mut out, at).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn theirs(at: OffsetDateTime) -> String {
        #[derive(serde::Serialize)]
        struct At(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);
        serde_json::to_string(&At(at)).unwrap()
    }

    #[test]
    fn instants_format_as_time_does() {
        for nanos in [
            0i128,
            1_000,
            100_000_000,
            120_000_000,
            999_999_000,
            1_767_323_045_000_001_000,
            -500_000_000,
            -62_135_596_800_000_000_000,
            253_402_300_799_999_999_999,
        ] {
            let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            assert_eq!(rfc3339(at), theirs(at), "{nanos}");
        }
        let offset = time::UtcOffset::from_hms(2, 30, 0).unwrap();
        let elsewhere = OffsetDateTime::UNIX_EPOCH.to_offset(offset);
        assert_eq!(rfc3339(elsewhere), theirs(elsewhere));
    }

    proptest! {
        #[test]
        fn strings_escape_as_serde_json_does(value in "\\PC*|[\\x00-\\x7f]{0,40}") {
            prop_assert_eq!(ours(&value), serde_json::to_string(&value).unwrap());
        }

        #[test]
        fn instants_in_range_format_as_time_does(
            nanos in -62_135_596_800_000_000_000i128..253_402_300_799_999_999_999i128,
            micros_only in any::<bool>(),
        ) {
            let nanos = if micros_only { nanos / 1000 * 1000 } else { nanos };
            let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            prop_assert_eq!(rfc3339(at), theirs(at));
        }
    }
}
