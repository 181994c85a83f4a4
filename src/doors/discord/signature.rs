//! Discord's signature on HTTP interactions: Ed25519 over `timestamp + body`, with the
//! application's public key. Discord sends bad signatures on purpose to check that they
//! are refused, so anything that does not verify strictly is refused. A signature proves
//! who sent a request, not when: a request whose signed timestamp is not within
//! [`TIMESTAMP_WINDOW_SECS`] of now is refused too, so a captured one cannot be replayed
//! once its id is forgotten.

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, VerifyingKey};

/// The header carrying the signature (hex).
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The header carrying the signed timestamp.
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// How far a signed timestamp may be from now, either way, in seconds: Discord sends at
/// once, so an older request is a replay and a newer one a forgery (or a broken clock).
pub const TIMESTAMP_WINDOW_SECS: u64 = 5 * 60;

/// Why a request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A signature header is missing (or not text).
    #[error("missing header {0}")]
    Missing(&'static str),
    /// The signature is not 64 bytes of hex.
    #[error("the signature is not 128 hex digits")]
    Malformed,
    /// The signature does not match the timestamp and body.
    #[error("the signature does not verify")]
    Invalid,
    /// The signed timestamp is not Unix seconds within [`TIMESTAMP_WINDOW_SECS`] of now.
    #[error("the signed timestamp is not within five minutes of now")]
    Stale,
}

/// Why a configured public key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 32 bytes of hex.
    #[error("must be the application's public key: 64 hex digits")]
    NotHex,
    /// 32 bytes that are not a valid Ed25519 point.
    #[error("is not a valid Ed25519 public key")]
    NotAKey,
}

/// The application's public key from its hex form (as the developer portal shows it).
pub fn public_key(hex: &str) -> Result<VerifyingKey, KeyError> {
    let bytes: [u8; 32] = from_hex(hex.trim()).ok_or(KeyError::NotHex)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::NotAKey)
}

/// Checks that `signature` (hex) signs `timestamp` followed by `body`.
pub fn verify(
    key: &VerifyingKey,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
    let timestamp = timestamp.ok_or(SignatureError::Missing(TIMESTAMP_HEADER))?;
    let bytes: [u8; 64] = from_hex(signature.trim()).ok_or(SignatureError::Malformed)?;
    let signature = Signature::from_bytes(&bytes);
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    key.verify_strict(&signed, &signature)
        .map_err(|_| SignatureError::Invalid)
}

/// Checks that `timestamp` (Unix seconds, as Discord signs it) is within
/// [`TIMESTAMP_WINDOW_SECS`] of `now`, either way.
pub fn fresh(timestamp: Option<&str>, now: DateTime<Utc>) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing(TIMESTAMP_HEADER))?;
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Stale)?;
    if at.abs_diff(now.timestamp()) <= TIMESTAMP_WINDOW_SECS {
        Ok(())
    } else {
        Err(SignatureError::Stale)
    }
}

/// Exactly `N` bytes from `2N` hex digits (either case).
fn from_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let digits = hex.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let digit = |d: u8| char::from(d).to_digit(16);
        *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A fresh keypair from 32 random bytes (any 32 bytes are a valid secret key).
    fn keypair() -> SigningKey {
        SigningKey::from_bytes(&rand::random::<[u8; 32]>())
    }

    fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
        let mut m = timestamp.as_bytes().to_vec();
        m.extend_from_slice(body);
        hex(&key.sign(&m).to_bytes())
    }

    const BODY: &[u8] = br#"{"type":1}"#;
    const TS: &str = "1795000000";

    #[test]
    fn a_good_signature_verifies() {
        let k = keypair();
        let public = public_key(&hex(k.verifying_key().as_bytes())).expect("key");
        let sig = sign(&k, TS, BODY);
        assert_eq!(verify(&public, Some(&sig), Some(TS), BODY), Ok(()));
        // Hex digits in either case.
        let upper = sig.to_uppercase();
        assert_eq!(verify(&public, Some(&upper), Some(TS), BODY), Ok(()));
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let k = keypair();
        let sig = sign(&k, TS, BODY);
        let r = verify(&k.verifying_key(), Some(&sig), Some(TS), br#"{"type":2}"#);
        assert_eq!(r, Err(SignatureError::Invalid));
    }

    #[test]
    fn another_timestamp_is_refused() {
        let k = keypair();
        let sig = sign(&k, TS, BODY);
        let r = verify(&k.verifying_key(), Some(&sig), Some("1795000001"), BODY);
        assert_eq!(r, Err(SignatureError::Invalid));
    }

    #[test]
    fn another_key_is_refused() {
        let sig = sign(&keypair(), TS, BODY);
        let r = verify(&keypair().verifying_key(), Some(&sig), Some(TS), BODY);
        assert_eq!(r, Err(SignatureError::Invalid));
    }

    #[test]
    fn missing_or_malformed_headers_are_refused() {
        let k = keypair();
        let public = k.verifying_key();
        let sig = sign(&k, TS, BODY);
        assert_eq!(
            verify(&public, None, Some(TS), BODY),
            Err(SignatureError::Missing(SIGNATURE_HEADER))
        );
        assert_eq!(
            verify(&public, Some(&sig), None, BODY),
            Err(SignatureError::Missing(TIMESTAMP_HEADER))
        );
        for bad in [
            "",
            "zz",
            &sig[..126],
            &format!("{sig}00"),
            &sig.replace('a', "g"),
        ] {
            if bad == sig {
                continue;
            }
            assert!(verify(&public, Some(bad), Some(TS), BODY).is_err(), "{bad}");
        }
        assert_eq!(
            verify(&public, Some(&"0".repeat(128)), Some(TS), BODY),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn only_timestamps_within_five_minutes_either_way_are_fresh() {
        let now = DateTime::from_timestamp(1_795_395_600, 0).expect("a time");
        let at = |offset: i64| (now.timestamp() + offset).to_string();
        for ok in [0, 300, -300, 299, -1] {
            assert_eq!(fresh(Some(&at(ok)), now), Ok(()), "{ok}");
        }
        for stale in [301, -301, -3 * 86_400, 86_400] {
            assert_eq!(
                fresh(Some(&at(stale)), now),
                Err(SignatureError::Stale),
                "{stale}"
            );
        }
        for junk in [
            "",
            "soon",
            "1795395600.5",
            "99999999999999999999",
            &i64::MIN.to_string(),
        ] {
            assert_eq!(fresh(Some(junk), now), Err(SignatureError::Stale), "{junk}");
        }
        assert_eq!(
            fresh(None, now),
            Err(SignatureError::Missing(TIMESTAMP_HEADER))
        );
    }

    #[test]
    fn public_keys_are_read_from_hex() {
        let k = keypair();
        let h = hex(k.verifying_key().as_bytes());
        assert_eq!(public_key(&format!(" {h}\n")), Ok(k.verifying_key()));
        assert_eq!(public_key(&h[..62]), Err(KeyError::NotHex));
        assert_eq!(public_key(&"x".repeat(64)), Err(KeyError::NotHex));
    }
}
