//! Request and response bodies as CloudTrail sees them: `aws-chunked` framing removed, XML
//! converted to CloudTrail's JSON, S3 error documents and percent escapes decoded. Pure; it must
//! not recognise calls or build events.

use serde_json::{Map, Value};

use super::RequestHead;

/// S3's error code and message from an error response body (`<Error><Code>…`).
pub fn s3_error(body: &[u8]) -> Option<(String, String)> {
    let (root, v) = xml_to_cloudtrail(body)?;
    let err = if root == "Error" {
        v
    } else {
        v.get("Error")?.clone()
    };
    let code = err.get("Code")?.as_str()?.to_owned();
    let message = err
        .get("Message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Some((code, message))
}

/// Strips `aws-chunked` framing (`<hex>[;chunk-signature=…]\r\n<data>\r\n…0\r\n<trailers>`) so
/// the document inside can be read; anything not so framed is returned as is.
pub fn decode_aws_chunked(head: &RequestHead, body: &[u8]) -> Vec<u8> {
    let chunked = head
        .header("content-encoding")
        .is_some_and(|e| e.contains("aws-chunked"))
        || head
            .header("x-amz-content-sha256")
            .is_some_and(|s| s.starts_with("STREAMING-"));
    if !chunked {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&rest[..eol]);
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            return body.to_vec();
        };
        rest = &rest[eol + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest[size..].strip_prefix(b"\r\n").unwrap_or(&rest[size..]);
    }
    out
}

/// The four PublicAccessBlock flags, which CloudTrail records as JSON booleans.
const BOOLEAN_ELEMENTS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

/// Converts an XML document the way CloudTrail records request bodies: the root element's name
/// with an object of its children; attributes (`xmlns`, `xmlns:xsi`, `xsi:type`) as keys; an
/// element repeated under one parent as an array, a single one as an object (hence `Grant` as
/// object or array); text-only elements as strings. `None` when the body is not XML.
pub fn xml_to_cloudtrail(xml: &[u8]) -> Option<(String, Value)> {
    use quick_xml::events::Event;
    let text = String::from_utf8_lossy(xml);
    let mut reader = quick_xml::Reader::from_str(&text);
    reader.config_mut().trim_text(true);

    struct Open {
        name: String,
        fields: Map<String, Value>,
        text: String,
        has_children: bool,
    }
    fn open(e: &quick_xml::events::BytesStart<'_>) -> Open {
        let mut fields = Map::new();
        for attr in e.attributes().flatten() {
            let k = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
            let v = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&attr.value).into_owned());
            fields.insert(k, Value::String(v));
        }
        Open {
            name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
            fields,
            text: String::new(),
            has_children: false,
        }
    }
    fn close(o: Open) -> (String, Value) {
        let value = if o.has_children || !o.fields.is_empty() {
            let mut fields = o.fields;
            if !o.text.is_empty() && !o.has_children {
                fields.insert("value".into(), Value::String(o.text));
            }
            Value::Object(fields)
        } else if BOOLEAN_ELEMENTS.contains(&o.name.as_str()) {
            match o.text.as_str() {
                "true" | "TRUE" | "True" => Value::Bool(true),
                "false" | "FALSE" | "False" => Value::Bool(false),
                _ => Value::String(o.text),
            }
        } else {
            Value::String(o.text)
        };
        (o.name, value)
    }
    fn attach(parent: &mut Open, name: String, value: Value) {
        parent.has_children = true;
        match parent.fields.get_mut(&name) {
            None => {
                parent.fields.insert(name, value);
            }
            // Arrays only ever arise from repetition here.
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }

    let mut stack: Vec<Open> = Vec::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => stack.push(open(&e)),
            Event::Empty(e) => {
                let (name, value) = close(open(&e));
                match stack.last_mut() {
                    Some(parent) => attach(parent, name, value),
                    None => return Some((name, value)),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.decode().ok()?);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                let top = stack.last_mut()?;
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    top.text.push(c);
                } else {
                    let name = r.decode().ok()?;
                    top.text.push(match name.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return None,
                    });
                }
            }
            Event::End(_) => {
                let done = stack.pop()?;
                let (name, value) = close(done);
                match stack.last_mut() {
                    Some(parent) => attach(parent, name, value),
                    None => return Some((name, value)),
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// Decodes `%XX` escapes (S3 keys and bucket names in paths); invalid escapes stay as written.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
