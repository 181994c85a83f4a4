//! WeCom's callback crypto, pure (no I/O): the signature, and the encryption of every
//! callback body and passive reply.
//!
//! - Key: `base64(EncodingAESKey + "=")`, 32 bytes; the IV is its first 16 bytes.
//! - Plaintext: 16 random bytes, the message's length as 4 big-endian bytes, the message,
//!   the receive id (the CorpID); padded PKCS#7-style to a multiple of 32 (a full block of
//!   32 when already aligned), encrypted with AES-256-CBC, then base64.
//! - Signature: SHA-1 hex of the token, timestamp, nonce and ciphertext, sorted and joined.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// The block WeCom pads to (twice AES's own).
const PAD_TO: usize = 32;
/// Random bytes before the length.
const RANDOM_LEN: usize = 16;

/// Why an EncodingAESKey cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 43 characters.
    #[error("the EncodingAESKey must be 43 characters, not {0}")]
    Length(usize),
    /// Not base64 (letters, digits, `+` and `/`).
    #[error("the EncodingAESKey must be 43 characters of A-Z, a-z, 0-9, + and /")]
    Alphabet,
}

/// Why a callback's ciphertext was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The signature does not match.
    #[error("the signature does not match")]
    Signature,
    /// The ciphertext is not base64, or not a whole number of blocks.
    #[error("the ciphertext is malformed")]
    Ciphertext,
    /// The decrypted layout is wrong (padding, length).
    #[error("the decrypted message is malformed")]
    Layout,
    /// The message is for another receive id (another corporation).
    #[error("the message is for another receiver")]
    Receiver,
}

/// The AES key of an app, from its EncodingAESKey.
#[derive(Clone)]
pub struct AesKey([u8; 32]);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(..)")
    }
}

impl AesKey {
    /// Decodes a 43-character EncodingAESKey.
    pub fn from_encoding_key(key: &str) -> Result<AesKey, KeyError> {
        let n = key.chars().count();
        if n != 43 {
            return Err(KeyError::Length(n));
        }
        if !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        {
            return Err(KeyError::Alphabet);
        }
        // 43 characters carry 258 bits: the last character's low two bits are padding,
        // which WeCom's keys need not leave zero, so decode leniently.
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_allow_trailing_bits(true)
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let bytes = engine
            .decode(format!("{key}="))
            .map_err(|_| KeyError::Alphabet)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Alphabet)?;
        Ok(AesKey(key))
    }

    fn iv(&self) -> &[u8] {
        &self.0[..16]
    }
}

/// The SHA-1 signature of a callback: over the token, timestamp, nonce and ciphertext,
/// sorted, concatenated; lowercase hex.
pub fn signature(token: &str, timestamp: &str, nonce: &str, ciphertext: &str) -> String {
    let mut parts = [token, timestamp, nonce, ciphertext];
    parts.sort_unstable();
    let digest = Sha1::digest(parts.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a signature in constant time (before anything is decrypted).
pub fn verify(
    token: &str,
    timestamp: &str,
    nonce: &str,
    ciphertext: &str,
    given: &str,
) -> Result<(), CryptoError> {
    let expected = signature(token, timestamp, nonce, ciphertext);
    // Lengths differ only for a forgery; the comparison itself is constant-time.
    if expected
        .as_bytes()
        .ct_eq(given.to_ascii_lowercase().as_bytes())
        .into()
    {
        Ok(())
    } else {
        Err(CryptoError::Signature)
    }
}

/// Encrypts `message` for `receive_id` with the given 16 random bytes; base64.
pub fn encrypt(key: &AesKey, random: [u8; 16], message: &[u8], receive_id: &str) -> String {
    let mut plain = Vec::with_capacity(RANDOM_LEN + 4 + message.len() + receive_id.len() + PAD_TO);
    plain.extend_from_slice(&random);
    // A message over 4 GiB cannot arrive in an HTTP body this service accepts.
    plain.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    plain.extend_from_slice(message);
    plain.extend_from_slice(receive_id.as_bytes());
    let pad = PAD_TO - plain.len() % PAD_TO;
    // `pad` is 1..=32: it fits a byte.
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let len = plain.len();
    let sealed = Encryptor::new_from_slices(&key.0, key.iv()).map(|c| {
        c.encrypt_padded_mut::<NoPadding>(&mut plain, len)
            .map(<[u8]>::to_vec)
    });
    match sealed {
        Ok(Ok(ct)) => STANDARD.encode(ct),
        // Key and IV have fixed lengths and the buffer is block-aligned: unreachable.
        _ => String::new(),
    }
}

/// Decrypts a base64 ciphertext; the message, if the layout is right and it is for
/// `receive_id`.
pub fn decrypt(key: &AesKey, ciphertext: &str, receive_id: &str) -> Result<Vec<u8>, CryptoError> {
    let mut data = STANDARD
        .decode(ciphertext.trim())
        .map_err(|_| CryptoError::Ciphertext)?;
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(CryptoError::Ciphertext);
    }
    let plain = Decryptor::new_from_slices(&key.0, key.iv())
        .map_err(|_| CryptoError::Ciphertext)?
        .decrypt_padded_mut::<NoPadding>(&mut data)
        .map_err(|_| CryptoError::Ciphertext)?;
    let pad = usize::from(*plain.last().ok_or(CryptoError::Layout)?);
    if pad == 0 || pad > PAD_TO || pad > plain.len() {
        return Err(CryptoError::Layout);
    }
    let body = &plain[..plain.len() - pad];
    if body.len() < RANDOM_LEN + 4 {
        return Err(CryptoError::Layout);
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&body[RANDOM_LEN..RANDOM_LEN + 4]);
    let len = u32::from_be_bytes(len) as usize;
    let rest = &body[RANDOM_LEN + 4..];
    if len > rest.len() {
        return Err(CryptoError::Layout);
    }
    let (message, receiver) = rest.split_at(len);
    if receiver.ct_eq(receive_id.as_bytes()).into() {
        Ok(message.to_vec())
    } else {
        Err(CryptoError::Receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    #[test]
    fn the_key_is_43_base64_characters() {
        assert!(AesKey::from_encoding_key(KEY).is_ok());
        assert_eq!(
            AesKey::from_encoding_key("short").unwrap_err(),
            KeyError::Length(5)
        );
        let bad = format!("{}=", &KEY[..42]);
        assert_eq!(
            AesKey::from_encoding_key(&bad).unwrap_err(),
            KeyError::Alphabet
        );
    }

    #[test]
    fn the_key_decodes_as_wecom_documents() {
        // base64("abc…EFG=") — the first bytes of "abcd" decode to 0x69 0xb7 0x1d.
        let key = AesKey::from_encoding_key(KEY).expect("key");
        assert_eq!(&key.0[..3], &[0x69, 0xb7, 0x1d]);
        assert_eq!(key.iv(), &key.0[..16]);
    }

    /// A known answer constructed by hand: the signature over sorted parts is the SHA-1
    /// of their concatenation in byte order.
    #[test]
    fn the_signature_sorts_its_parts() {
        let sig = signature("token", "1409659813", "1372623149", "CIPHER");
        // sorted: "1372623149" < "1409659813" < "CIPHER" < "token"
        let expected = Sha1::digest(b"13726231491409659813CIPHERtoken");
        let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sig, hex);
        // SHA-1("abc") is a published vector: the hex encoding itself is right.
        let abc: String = Sha1::digest(b"abc")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(abc, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert!(verify("token", "1409659813", "1372623149", "CIPHER", &sig).is_ok());
        assert!(
            verify(
                "token",
                "1409659813",
                "1372623149",
                "CIPHER",
                &sig.to_uppercase()
            )
            .is_ok()
        );
        assert_eq!(
            verify("token", "1409659814", "1372623149", "CIPHER", &sig),
            Err(CryptoError::Signature)
        );
        assert_eq!(
            verify("token", "1409659813", "1372623149", "CIPHER", ""),
            Err(CryptoError::Signature)
        );
    }

    #[test]
    fn a_message_round_trips_and_is_padded_to_32() {
        let key = AesKey::from_encoding_key(KEY).expect("key");
        for len in [0usize, 1, 11, 12, 13, 44, 100, 3000] {
            let msg = "报".repeat(len);
            let ct = encrypt(&key, [7; 16], msg.as_bytes(), "wwcorp");
            let raw = STANDARD.decode(&ct).expect("base64");
            assert_eq!(raw.len() % 32, 0, "len {len}");
            assert_eq!(
                decrypt(&key, &ct, "wwcorp").expect("decrypts"),
                msg.as_bytes()
            );
            assert_eq!(decrypt(&key, &ct, "other"), Err(CryptoError::Receiver));
        }
    }

    /// A known answer constructed by hand: the plaintext layout encrypted block by block
    /// with AES-256 in CBC mode from the key's first 16 bytes, done here with the raw
    /// block cipher, must equal what `encrypt` produces.
    #[test]
    fn encryption_matches_the_layout_by_hand() {
        use aes::cipher::{BlockEncrypt, KeyInit};
        let key = AesKey::from_encoding_key(KEY).expect("key");
        let msg = b"<xml>hi</xml>";
        let mut plain = Vec::new();
        plain.extend_from_slice(&[1u8; 16]);
        plain.extend_from_slice(&[0, 0, 0, 13]);
        plain.extend_from_slice(msg);
        plain.extend_from_slice(b"corp");
        // 16 + 4 + 13 + 4 = 37 bytes: 27 bytes of 27 make 64.
        plain.extend(std::iter::repeat_n(27u8, 27));
        assert_eq!(plain.len(), 64);
        let cipher = aes::Aes256::new_from_slice(&key.0).expect("key length");
        let mut prev: [u8; 16] = key.0[..16].try_into().expect("iv");
        let mut out = Vec::new();
        for block in plain.chunks(16) {
            let mut b = [0u8; 16];
            for i in 0..16 {
                b[i] = block[i] ^ prev[i];
            }
            let mut ga = aes::Block::from(b);
            cipher.encrypt_block(&mut ga);
            prev = ga.into();
            out.extend_from_slice(&prev);
        }
        assert_eq!(encrypt(&key, [1; 16], msg, "corp"), STANDARD.encode(&out));
    }

    #[test]
    fn tampering_is_refused_without_panicking() {
        let key = AesKey::from_encoding_key(KEY).expect("key");
        assert_eq!(
            decrypt(&key, "not base64!", "c"),
            Err(CryptoError::Ciphertext)
        );
        assert_eq!(decrypt(&key, "", "c"), Err(CryptoError::Ciphertext));
        assert_eq!(decrypt(&key, "AAAA", "c"), Err(CryptoError::Ciphertext));
        let ct = encrypt(&key, [2; 16], b"hello", "corp");
        let mut raw = STANDARD.decode(&ct).expect("b64");
        let last = raw.len() - 1;
        raw[last] ^= 0xff;
        // A flipped last byte garbles the padding or the receiver: refused either way.
        assert!(decrypt(&key, &STANDARD.encode(&raw), "corp").is_err());
        // Any bytes at all: never a panic.
        for n in 0..80u8 {
            let junk: Vec<u8> = (0..64).map(|i| i ^ n).collect();
            let _ = decrypt(&key, &STANDARD.encode(junk), "corp");
        }
    }
}
