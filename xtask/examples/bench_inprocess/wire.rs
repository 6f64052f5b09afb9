//! The PostgreSQL wire-protocol decoder: the frontend messages a client sends (Parse, Bind,
//! Sync, Query), the statements and parameters they carry, and those parameters as text.

use std::sync::Mutex;

/// One frontend message of interest.
#[derive(Debug, Clone)]
pub enum Message {
    /// Parse: the statement text and the parameter types (OIDs).
    Parse { sql: String, types: Vec<u32> },
    /// Bind: each parameter's format (0 text, 1 binary) and value (None is NULL).
    Bind { values: Vec<(i16, Option<Vec<u8>>)> },
    /// Sync (end of an extended-protocol exchange): one round trip.
    Sync,
    /// A simple-protocol query: one round trip.
    Query(String),
}

/// The messages decoded so far, in the order the clients sent them.
#[derive(Default)]
pub struct Wire {
    pub messages: Mutex<Vec<Message>>,
}

/// Decodes the complete messages at the start of `buffer`; returns how many bytes they took.
pub fn decode_frontend(buffer: &[u8], startup: &mut bool, wire: &Wire) -> usize {
    let mut at = 0;
    loop {
        let rest = &buffer[at..];
        if *startup {
            // Untyped: length (itself included), then a protocol code.
            if rest.len() < 8 {
                return at;
            }
            let length = u32::from_be_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
            if rest.len() < length {
                return at;
            }
            let code = u32::from_be_bytes(rest[4..8].try_into().expect("4 bytes"));
            // SSLRequest and GSSENCRequest are followed by the real startup message.
            if code != 80_877_103 && code != 80_877_104 {
                *startup = false;
            }
            at += length;
            continue;
        }
        if rest.len() < 5 {
            return at;
        }
        let kind = rest[0];
        let length = u32::from_be_bytes(rest[1..5].try_into().expect("4 bytes")) as usize;
        if rest.len() < 1 + length {
            return at;
        }
        let body = &rest[5..1 + length];
        let message = match kind {
            b'P' => parse_message(body),
            b'B' => bind_message(body),
            b'S' => Some(Message::Sync),
            b'Q' => Some(Message::Query(
                String::from_utf8_lossy(body.split(|b| *b == 0).next().unwrap_or_default())
                    .into_owned(),
            )),
            _ => None,
        };
        if let Some(message) = message {
            wire.messages.lock().expect("lock").push(message);
        }
        at += 1 + length;
    }
}

/// A cursor over a message body, big-endian as the protocol is.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn cstring(&mut self) -> Option<&'a str> {
        let end = self.bytes.iter().position(|b| *b == 0)?;
        let text = std::str::from_utf8(&self.bytes[..end]).ok()?;
        self.bytes = &self.bytes[end + 1..];
        Some(text)
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

fn parse_message(body: &[u8]) -> Option<Message> {
    let mut reader = Reader { bytes: body };
    reader.cstring()?; // statement name
    let sql = reader.cstring()?.to_owned();
    let count = reader.i16()?;
    let types = (0..count)
        .map(|_| reader.i32().map(|oid| oid as u32))
        .collect::<Option<Vec<_>>>()?;
    Some(Message::Parse { sql, types })
}

fn bind_message(body: &[u8]) -> Option<Message> {
    let mut reader = Reader { bytes: body };
    reader.cstring()?; // portal
    reader.cstring()?; // statement
    let format_count = reader.i16()?;
    let formats = (0..format_count)
        .map(|_| reader.i16())
        .collect::<Option<Vec<_>>>()?;
    let count = reader.i16()?;
    let mut values = Vec::new();
    for i in 0..count as usize {
        let format = match formats.len() {
            0 => 0,
            1 => formats[0],
            _ => formats[i],
        };
        let length = reader.i32()?;
        let value = if length < 0 {
            None
        } else {
            Some(reader.take(length as usize)?.to_vec())
        };
        values.push((format, value));
    }
    Some(Message::Bind { values })
}

/// SQL name of a parameter type.
pub fn type_name(oid: u32) -> Option<&'static str> {
    Some(match oid {
        16 => "bool",
        17 => "bytea",
        20 => "int8",
        23 => "int4",
        25 => "text",
        701 => "float8",
        1007 => "int4[]",
        1009 => "text[]",
        1184 => "timestamptz",
        2950 => "uuid",
        _ => return None,
    })
}

/// A binary-format parameter as PostgreSQL's text input would take it.
pub fn to_text(oid: u32, raw: &[u8]) -> Option<String> {
    let be8 = |b: &[u8]| -> Option<[u8; 8]> { b.try_into().ok() };
    Some(match oid {
        16 => (raw.first()? != &0).to_string(),
        17 => format!("\\x{}", hex(raw)),
        20 => i64::from_be_bytes(be8(raw)?).to_string(),
        23 => i32::from_be_bytes(raw.try_into().ok()?).to_string(),
        25 => String::from_utf8(raw.to_vec()).ok()?,
        701 => f64::from_be_bytes(be8(raw)?).to_string(),
        1184 => {
            let micros = i64::from_be_bytes(be8(raw)?);
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(
                (micros as i128 + 946_684_800_000_000) * 1000,
            )
            .ok()?;
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()?
        }
        2950 => {
            let h = hex(raw);
            if h.len() != 32 {
                return None;
            }
            format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        }
        1007 | 1009 => {
            let mut reader = Reader { bytes: raw };
            let dimensions = reader.i32()?;
            reader.i32()?; // has nulls
            let element = reader.i32()? as u32;
            if dimensions == 0 {
                return Some("{}".to_owned());
            }
            if dimensions != 1 {
                return None;
            }
            let count = reader.i32()?;
            reader.i32()?; // lower bound
            let mut items = Vec::new();
            for _ in 0..count {
                let length = reader.i32()?;
                if length < 0 {
                    items.push("NULL".to_owned());
                    continue;
                }
                let text = to_text(element, reader.take(length as usize)?)?;
                items.push(format!(
                    "\"{}\"",
                    text.replace('\\', "\\\\").replace('"', "\\\"")
                ));
            }
            format!("{{{}}}", items.join(","))
        }
        _ => return None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One statement as the handler sent it.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: String,
    pub types: Vec<u32>,
    pub values: Vec<(i16, Option<Vec<u8>>)>,
}

/// The statements in `messages`: each Parse with the Bind after it, and each simple Query.
pub fn statements(messages: &[Message]) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut pending: Option<(String, Vec<u32>)> = None;
    for message in messages {
        match message {
            Message::Parse { sql, types } => pending = Some((sql.clone(), types.clone())),
            Message::Bind { values } => {
                if let Some((sql, types)) = pending.take() {
                    out.push(Statement {
                        sql,
                        types,
                        values: values.clone(),
                    });
                }
            }
            Message::Query(sql) => out.push(Statement {
                sql: sql.clone(),
                types: Vec::new(),
                values: Vec::new(),
            }),
            Message::Sync => {}
        }
    }
    out
}
