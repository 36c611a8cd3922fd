//! How the Kinesis client reads a GetRecords response: the SDK's own awsJson 1.1 protocol for
//! every request and every other response, and for a successful GetRecords body a cursor that
//! finds each string with `memchr` and decodes a record's base64 straight out of the body. The
//! SDK's reader scans every byte of every record's base64 one at a time, validates it as UTF-8
//! and copies it into a `String` before decoding it: about a fifth of the live worker's CPU per
//! record. Must not change what any response means: whatever this reader does not do itself
//! (escaped strings, numbers, timestamps, maps, documents, skipping unknown members) is done by
//! the SDK's own reader over the same bytes, and the tests compare both readers' output.

use std::sync::Arc;

use aws_sdk_kinesis::operation::get_records::GetRecordsOutput;
use aws_smithy_json::codec::{JsonCodec, JsonCodecSettings};
use aws_smithy_json::deserialize::EscapedStr;
use aws_smithy_json::protocol::aws_json_rpc::AwsJsonRpcProtocol;
use aws_smithy_runtime_api::http::{Request, Response};
use aws_smithy_schema::codec::{Codec, DynCodec};
use aws_smithy_schema::protocol::ClientProtocol;
use aws_smithy_schema::serde::{SerdeError, SerializableStruct, ShapeDeserializer};
use aws_smithy_schema::{Schema, ShapeId, ShapeType};
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::endpoint::Endpoint;
use aws_smithy_types::error::metadata::Builder as ErrorMetadataBuilder;
use aws_smithy_types::{BigDecimal, BigInteger, Blob, DateTime, Document};

const NAMESPACE: &str = "com.amazonaws.kinesis";

/// The Kinesis client's protocol (`aws_sdk_kinesis::config::Builder::protocol`): the SDK's
/// awsJson 1.1, with GetRecords bodies read by [`RecordsReader`].
#[derive(Debug)]
pub struct KinesisProtocol {
    sdk: AwsJsonRpcProtocol,
    codec: Arc<JsonCodec>,
}

impl Default for KinesisProtocol {
    fn default() -> Self {
        Self::new()
    }
}

impl KinesisProtocol {
    pub fn new() -> KinesisProtocol {
        // The settings the SDK's awsJson 1.1 protocol gives its own codec (aws_json_rpc.rs),
        // with the namespace the generated Kinesis client sets.
        let settings = JsonCodecSettings::builder()
            .use_json_name(false)
            .default_timestamp_format(Format::EpochSeconds)
            .protocol_id(aws_smithy_schema::shape_id!("aws.protocols", "awsJson1_1"))
            .default_namespace(NAMESPACE)
            .build();
        KinesisProtocol {
            sdk: AwsJsonRpcProtocol::aws_json_1_1().with_default_namespace(NAMESPACE),
            codec: Arc::new(JsonCodec::new(settings)),
        }
    }
}

fn is_get_records(schema: &Schema<'_>) -> bool {
    schema.shape_id() == GetRecordsOutput::SCHEMA.shape_id()
}

impl ClientProtocol for KinesisProtocol {
    fn protocol_id(&self) -> &ShapeId<'static> {
        self.sdk.protocol_id()
    }

    fn serialize_request(
        &self,
        input: &dyn SerializableStruct,
        input_schema: &Schema<'_>,
        endpoint: &str,
        cfg: &ConfigBag,
    ) -> Result<Request, SerdeError> {
        self.sdk
            .serialize_request(input, input_schema, endpoint, cfg)
    }

    fn deserialize_response<'a>(
        &self,
        response: &'a Response,
        output_schema: &Schema<'_>,
        cfg: &'a ConfigBag,
    ) -> Result<Box<dyn ShapeDeserializer + 'a>, SerdeError> {
        // Only called for a successful response; errors go through the two methods below.
        match response.body().bytes() {
            Some(body) if is_get_records(output_schema) => {
                Ok(Box::new(RecordsReader::new(body, self.codec.clone())))
            }
            _ => self.sdk.deserialize_response(response, output_schema, cfg),
        }
    }

    fn parse_error_metadata(
        &self,
        response: &Response,
        cfg: &ConfigBag,
    ) -> Result<ErrorMetadataBuilder, SerdeError> {
        self.sdk.parse_error_metadata(response, cfg)
    }

    fn deserialize_error_response<'a>(
        &self,
        response: &'a Response,
        cfg: &'a ConfigBag,
    ) -> Result<Box<dyn ShapeDeserializer + 'a>, SerdeError> {
        self.sdk.deserialize_error_response(response, cfg)
    }

    fn update_endpoint(
        &self,
        request: &mut Request,
        endpoint: &Endpoint,
        cfg: &ConfigBag,
    ) -> Result<(), SerdeError> {
        self.sdk.update_endpoint(request, endpoint, cfg)
    }

    fn payload_codec(&self) -> Option<&dyn DynCodec> {
        self.sdk.payload_codec()
    }

    fn event_stream_media_type(&self) -> Option<&str> {
        self.sdk.event_stream_media_type()
    }

    fn parse_event_stream_error_metadata(
        &self,
        payload: &[u8],
    ) -> Result<ErrorMetadataBuilder, SerdeError> {
        self.sdk.parse_event_stream_error_metadata(payload)
    }
}

/// A cursor over one JSON body. Objects, arrays and unescaped strings it reads itself; every
/// other read is the SDK's `JsonDeserializer` started at the cursor, which then moves past what
/// that reader consumed. Recursion follows the schema (a structure's members), never the data,
/// so a deeply nested body cannot exhaust the stack here; the SDK's reader bounds its own depth.
pub struct RecordsReader<'a> {
    input: &'a [u8],
    pos: usize,
    depth: u32,
    codec: Arc<JsonCodec>,
}

impl<'a> RecordsReader<'a> {
    pub fn new(input: &'a [u8], codec: Arc<JsonCodec>) -> RecordsReader<'a> {
        RecordsReader {
            input,
            pos: 0,
            depth: 0,
            codec,
        }
    }

    fn rest(&self) -> &'a [u8] {
        &self.input[self.pos..]
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.input.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Runs one read of the SDK's reader from the cursor and moves past what it consumed. Its
    /// nesting limit (128) counts from the value it starts at, a few levels below the body's root.
    fn sdk<T>(
        &mut self,
        read: impl FnOnce(&mut dyn ShapeDeserializer) -> Result<T, SerdeError>,
    ) -> Result<T, SerdeError> {
        self.skip_ws();
        let mut d = Codec::create_deserializer(&*self.codec, self.rest());
        let out = read(&mut d)?;
        self.pos += d.position();
        Ok(out)
    }

    /// A value the SDK's reader reads as a whole container (a map, a document): it must see
    /// exactly that value, or it would reject the rest of the body as trailing characters.
    fn sdk_whole<T>(
        &mut self,
        read: impl FnOnce(&mut dyn ShapeDeserializer) -> Result<T, SerdeError>,
    ) -> Result<T, SerdeError> {
        self.skip_ws();
        let start = self.pos;
        self.sdk(|d| d.skip_value())?;
        let mut d = Codec::create_deserializer(&*self.codec, &self.input[start..self.pos]);
        read(&mut d)
    }

    /// The raw text of the string at the cursor (after its opening quote) when it has no
    /// escape, moving past it; `None`, without moving, when it has one (or is unterminated).
    fn plain_string(&mut self) -> Result<Option<&'a [u8]>, SerdeError> {
        self.skip_ws();
        if self.input.get(self.pos) != Some(&b'"') {
            return Err(SerdeError::type_mismatch("expected string"));
        }
        let body = &self.input[self.pos + 1..];
        match memchr::memchr2(b'"', b'\\', body) {
            Some(end) if body[end] == b'"' => {
                self.pos += end + 2;
                Ok(Some(&body[..end]))
            }
            _ => Ok(None),
        }
    }

    /// Reads an object key at the cursor (which is on its opening quote) and the colon after it.
    fn key(&mut self) -> Result<std::borrow::Cow<'a, str>, SerdeError> {
        let key = match self.plain_string()? {
            Some(raw) => std::borrow::Cow::Borrowed(
                std::str::from_utf8(raw).map_err(|e| SerdeError::invalid_input(e.to_string()))?,
            ),
            None => {
                let raw = self.escaped_string_text()?;
                let s = std::str::from_utf8(raw)
                    .map_err(|e| SerdeError::invalid_input(e.to_string()))?;
                std::borrow::Cow::Owned(
                    EscapedStr::new(s)
                        .to_unescaped()
                        .map_err(|e| SerdeError::invalid_input(e.to_string()))?
                        .into_owned(),
                )
            }
        };
        self.skip_ws();
        if self.input.get(self.pos) != Some(&b':') {
            return Err(SerdeError::invalid_input("expected colon after key"));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(key)
    }

    /// The text between the quotes of a string with escapes, moving past it.
    fn escaped_string_text(&mut self) -> Result<&'a [u8], SerdeError> {
        let start = self.pos + 1;
        let mut i = start;
        while i < self.input.len() {
            match memchr::memchr2(b'"', b'\\', &self.input[i..]) {
                Some(off) if self.input[i + off] == b'"' => {
                    self.pos = i + off + 1;
                    return Ok(&self.input[start..i + off]);
                }
                Some(off) => i += off + 2,
                None => break,
            }
        }
        Err(SerdeError::invalid_input("unterminated string"))
    }

    /// JSON's separator rules between the elements of a container closed by `close`: `true`
    /// when the container ended (and was consumed).
    fn next_element(&mut self, first: bool, close: u8, what: &str) -> Result<bool, SerdeError> {
        self.skip_ws();
        match self.input.get(self.pos).copied() {
            Some(b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            None => Err(SerdeError::invalid_input(format!(
                "unexpected end of input in {what}"
            ))),
            Some(b',') if first => Err(SerdeError::invalid_input(format!(
                "unexpected `,` before the first element of {what}"
            ))),
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
                match self.input.get(self.pos).copied() {
                    Some(b) if b == close => {
                        Err(SerdeError::invalid_input(format!("trailing `,` in {what}")))
                    }
                    Some(b',') => Err(SerdeError::invalid_input(format!("repeated `,` in {what}"))),
                    None => Err(SerdeError::invalid_input(format!(
                        "unexpected end of input in {what}"
                    ))),
                    Some(_) => Ok(false),
                }
            }
            Some(_) if first => Ok(false),
            Some(_) => Err(SerdeError::invalid_input(format!(
                "expected `,` between elements of {what}"
            ))),
        }
    }

    /// Leaves a container; the outermost one must be the whole body.
    fn leave(&mut self) -> Result<(), SerdeError> {
        self.depth -= 1;
        if self.depth == 0 {
            self.skip_ws();
            if self.pos < self.input.len() {
                return Err(SerdeError::invalid_input(
                    "unexpected trailing characters after the JSON value",
                ));
            }
        }
        Ok(())
    }

    fn is_null_here(&self) -> bool {
        let rest = self.rest();
        rest.starts_with(b"null") && !rest.get(4).is_some_and(|b| b.is_ascii_alphanumeric())
    }
}

impl ShapeDeserializer for RecordsReader<'_> {
    fn read_struct(
        &mut self,
        schema: &Schema<'_>,
        state: &mut dyn FnMut(&Schema<'_>, &mut dyn ShapeDeserializer) -> Result<(), SerdeError>,
    ) -> Result<(), SerdeError> {
        self.skip_ws();
        if self.pos == self.input.len() && self.depth == 0 {
            // An empty body is an empty object, as the SDK's reader has it.
            return Ok(());
        }
        if self.input.get(self.pos) != Some(&b'{') {
            return Err(SerdeError::type_mismatch("expected object"));
        }
        self.pos += 1;
        self.depth += 1;
        let mut first = true;
        loop {
            if self.next_element(first, b'}', "object")? {
                break;
            }
            first = false;
            if self.input.get(self.pos) != Some(&b'"') {
                return Err(SerdeError::invalid_input("expected object key"));
            }
            let key = self.key()?;
            let member = schema.member_schema(&key);
            if self.is_null_here() && !member.is_some_and(|m| m.shape_type() == ShapeType::Document)
            {
                // A null member is absent (the SDK's reader's default).
                self.pos += 4;
            } else if let Some(member) = member {
                state(member, self)?;
            } else if key == "__type" {
                self.sdk(|d| d.skip_value())?;
            } else {
                let start = self.pos;
                state(&aws_smithy_schema::prelude::DOCUMENT, self)?;
                if self.pos == start {
                    self.sdk(|d| d.skip_value())?;
                }
            }
        }
        self.leave()
    }

    fn read_list(
        &mut self,
        _schema: &Schema<'_>,
        state: &mut dyn FnMut(&mut dyn ShapeDeserializer) -> Result<(), SerdeError>,
    ) -> Result<(), SerdeError> {
        self.skip_ws();
        if self.input.get(self.pos) != Some(&b'[') {
            return Err(SerdeError::type_mismatch("expected array"));
        }
        self.pos += 1;
        self.depth += 1;
        let mut first = true;
        loop {
            if self.next_element(first, b']', "array")? {
                break;
            }
            first = false;
            state(self)?;
        }
        self.leave()
    }

    fn read_map(
        &mut self,
        schema: &Schema<'_>,
        state: &mut dyn FnMut(String, &mut dyn ShapeDeserializer) -> Result<(), SerdeError>,
    ) -> Result<(), SerdeError> {
        self.sdk_whole(|d| d.read_map(schema, state))
    }

    fn read_boolean(&mut self, schema: &Schema<'_>) -> Result<bool, SerdeError> {
        self.sdk(|d| d.read_boolean(schema))
    }

    fn read_byte(&mut self, schema: &Schema<'_>) -> Result<i8, SerdeError> {
        self.sdk(|d| d.read_byte(schema))
    }

    fn read_short(&mut self, schema: &Schema<'_>) -> Result<i16, SerdeError> {
        self.sdk(|d| d.read_short(schema))
    }

    fn read_integer(&mut self, schema: &Schema<'_>) -> Result<i32, SerdeError> {
        self.sdk(|d| d.read_integer(schema))
    }

    fn read_long(&mut self, schema: &Schema<'_>) -> Result<i64, SerdeError> {
        self.sdk(|d| d.read_long(schema))
    }

    fn read_float(&mut self, schema: &Schema<'_>) -> Result<f32, SerdeError> {
        self.sdk(|d| d.read_float(schema))
    }

    fn read_double(&mut self, schema: &Schema<'_>) -> Result<f64, SerdeError> {
        self.sdk(|d| d.read_double(schema))
    }

    fn read_big_integer(&mut self, schema: &Schema<'_>) -> Result<BigInteger, SerdeError> {
        self.sdk(|d| d.read_big_integer(schema))
    }

    fn read_big_decimal(&mut self, schema: &Schema<'_>) -> Result<BigDecimal, SerdeError> {
        self.sdk(|d| d.read_big_decimal(schema))
    }

    fn read_string(&mut self, schema: &Schema<'_>) -> Result<String, SerdeError> {
        match self.plain_string()? {
            Some(raw) => std::str::from_utf8(raw)
                .map(str::to_owned)
                .map_err(|e| SerdeError::invalid_input(e.to_string())),
            None => self.sdk(|d| d.read_string(schema)),
        }
    }

    fn read_blob(&mut self, schema: &Schema<'_>) -> Result<Blob, SerdeError> {
        match self.plain_string()? {
            // Decoded from the body itself with the SDK's own decoder (`base64_simd::STANDARD`):
            // base64 is ASCII, so a byte that would fail the SDK's UTF-8 check fails the decode.
            Some(raw) => base64_simd::STANDARD
                .decode_to_vec(raw)
                .map(Blob::new)
                .map_err(|e| SerdeError::invalid_input(format!("invalid base64: {e}"))),
            None => self.sdk(|d| d.read_blob(schema)),
        }
    }

    fn read_timestamp(&mut self, schema: &Schema<'_>) -> Result<DateTime, SerdeError> {
        self.sdk(|d| d.read_timestamp(schema))
    }

    fn read_document(&mut self, schema: &Schema<'_>) -> Result<Document, SerdeError> {
        self.sdk_whole(|d| d.read_document(schema))
    }

    fn is_null(&self) -> bool {
        self.is_null_here()
    }

    fn read_null(&mut self) -> Result<(), SerdeError> {
        self.skip_ws();
        if self.is_null_here() {
            self.pos += 4;
        }
        Ok(())
    }

    fn skip_value(&mut self) -> Result<(), SerdeError> {
        self.sdk(|d| d.skip_value())
    }

    fn container_size(&self) -> Option<usize> {
        Codec::create_deserializer(&*self.codec, self.rest()).container_size()
    }
}

#[cfg(test)]
#[path = "kinesis_json_tests.rs"]
mod tests;
