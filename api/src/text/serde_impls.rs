//! `Text` is serialized as a string, so it crosses shuffles, caches and object files, and is
//! interchangeable on the wire with `String`.

use std::fmt;

use bytes::Bytes;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::Text;

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Builds a `Text` from whatever string form the format offers, copying short text inline
/// and taking over an owned `String`'s buffer when long.
struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Text, E> {
        Ok(Text::from(s))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Text, E> {
        Ok(Text::from(s))
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Text, E> {
        Text::from_utf8(Bytes::copy_from_slice(bytes))
            .map_err(|_| E::invalid_value(de::Unexpected::Bytes(bytes), &self))
    }
}

#[cfg(test)]
mod tests {
    use ember_storage::codec;

    use super::super::INLINE_CAPACITY;
    use super::*;

    #[test]
    fn round_trips_through_the_codec_on_both_sides_of_the_boundary() {
        for s in ["", "word", "é", &"x".repeat(INLINE_CAPACITY), &"y".repeat(INLINE_CAPACITY + 1), &"日本".repeat(20)]
        {
            let text = Text::from(s);
            let encoded = codec::encode(&text).unwrap();
            assert_eq!(encoded, codec::encode(s).unwrap(), "encoded exactly as a str");
            let back: Text = codec::decode(&encoded).unwrap();
            assert_eq!(back, text);
            assert_eq!(back.is_inline(), s.len() <= INLINE_CAPACITY);
            assert_eq!(codec::decode::<String>(&encoded).unwrap(), s, "readable as a String");
        }
    }

    #[test]
    fn round_trips_through_json_as_a_string() {
        let pair = (Text::from("key"), 3u32);
        let json = serde_json::to_string(&pair).unwrap();
        assert_eq!(json, r#"["key",3]"#);
        assert_eq!(serde_json::from_str::<(Text, u32)>(&json).unwrap(), pair);
        assert_eq!(serde_json::from_str::<Text>(r#""a\nb""#).unwrap(), "a\nb", "escapes go through visit_string");
    }

    #[test]
    fn invalid_utf8_bytes_are_a_decode_error() {
        let err = TextVisitor.visit_bytes::<de::value::Error>(b"\xff").unwrap_err();
        assert!(err.to_string().contains("a string"), "{err}");
        assert_eq!(TextVisitor.visit_bytes::<de::value::Error>(b"ok").unwrap(), "ok");
    }
}
