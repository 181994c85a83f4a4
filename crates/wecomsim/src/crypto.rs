//! The callback format, implemented here from WeCom's documentation alone — on purpose
//! not shared with the door, so a mistake in one is caught by the other.
//!
//! The AES key is the EncodingAESKey with `=` appended, base64-decoded (32 bytes), the IV
//! its first 16 bytes; the plaintext is `random(16) ‖ len(msg) as u32 BE ‖ msg ‖ corp_id`
//! padded with N bytes of value N to a multiple of 32; the signature is the SHA-1 hex of
//! the four strings token, timestamp, nonce and ciphertext, sorted and concatenated.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use sha1::Digest as _;

/// A malformed ciphertext or key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Bad(pub &'static str);

/// An app's callback secrets.
#[derive(Clone)]
pub struct Codec {
    token: String,
    key: Vec<u8>,
    corp_id: String,
}

impl Codec {
    /// From the callback Token, the 43-character EncodingAESKey and the CorpID.
    pub fn new(token: &str, encoding_aes_key: &str, corp_id: &str) -> Result<Codec, Bad> {
        if encoding_aes_key.len() != 43 {
            return Err(Bad("EncodingAESKey is not 43 characters"));
        }
        // Decode by hand-appended padding; lenient on the unused low bits.
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let key = engine
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| Bad("EncodingAESKey is not base64"))?;
        if key.len() != 32 {
            return Err(Bad("EncodingAESKey does not give 32 bytes"));
        }
        Ok(Codec {
            token: token.to_owned(),
            key,
            corp_id: corp_id.to_owned(),
        })
    }

    /// The signature of `(timestamp, nonce, ciphertext)`.
    pub fn sign(&self, timestamp: &str, nonce: &str, ciphertext: &str) -> String {
        let mut v = vec![
            self.token.clone(),
            timestamp.to_owned(),
            nonce.to_owned(),
            ciphertext.to_owned(),
        ];
        v.sort();
        let mut h = sha1::Sha1::new();
        for s in &v {
            h.update(s.as_bytes());
        }
        let mut hex = String::with_capacity(40);
        for b in h.finalize() {
            hex.push_str(&format!("{b:02x}"));
        }
        hex
    }

    /// Encrypts `msg` (base64 out).
    pub fn seal(&self, msg: &str) -> String {
        let mut buf: Vec<u8> = (0..16).map(|_| rand::random::<u8>()).collect();
        let n = msg.len() as u32;
        buf.extend_from_slice(&[(n >> 24) as u8, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
        buf.extend_from_slice(msg.as_bytes());
        buf.extend_from_slice(self.corp_id.as_bytes());
        let k = 32 - (buf.len() % 32);
        buf.resize(buf.len() + k, k as u8);
        let len = buf.len();
        let enc = cbc::Encryptor::<aes::Aes256>::new_from_slices(&self.key, &self.key[..16])
            .expect("fixed key and IV sizes");
        let out = enc
            .encrypt_padded_mut::<NoPadding>(&mut buf, len)
            .expect("aligned buffer")
            .to_vec();
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// Decrypts a base64 ciphertext; the message and the receive id it names.
    pub fn open(&self, ciphertext: &str) -> Result<(String, String), Bad> {
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(ciphertext)
            .map_err(|_| Bad("not base64"))?;
        if raw.is_empty() || raw.len() % 32 != 0 {
            return Err(Bad("not a multiple of 32 bytes"));
        }
        let dec = cbc::Decryptor::<aes::Aes256>::new_from_slices(&self.key, &self.key[..16])
            .map_err(|_| Bad("key"))?;
        let plain = dec
            .decrypt_padded_mut::<NoPadding>(&mut raw)
            .map_err(|_| Bad("blocks"))?;
        let k = *plain.last().ok_or(Bad("empty"))? as usize;
        if !(1..=32).contains(&k) || k > plain.len() {
            return Err(Bad("padding"));
        }
        let plain = &plain[..plain.len() - k];
        if plain.len() < 20 {
            return Err(Bad("short"));
        }
        let n = u32::from_be_bytes([plain[16], plain[17], plain[18], plain[19]]) as usize;
        if 20 + n > plain.len() {
            return Err(Bad("length"));
        }
        let msg = String::from_utf8(plain[20..20 + n].to_vec()).map_err(|_| Bad("utf-8"))?;
        let receiver = String::from_utf8(plain[20 + n..].to_vec()).map_err(|_| Bad("utf-8"))?;
        Ok((msg, receiver))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_signature() {
        let c =
            Codec::new("tok", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww1").expect("codec");
        let ct = c.seal("<xml>你好</xml>");
        let (msg, corp) = c.open(&ct).expect("opens");
        assert_eq!(msg, "<xml>你好</xml>");
        assert_eq!(corp, "ww1");
        // SHA-1 of "123abctok" with the parts sorted.
        assert_eq!(c.sign("2", "1", "3abc").len(), 40);
        assert_eq!(c.sign("2", "1", "3abc"), c.sign("2", "1", "3abc"));
        assert_ne!(c.sign("2", "1", "3abc"), c.sign("2", "1", "3abd"));
    }
}
