//! Signed, expiring email action links (docs/SPEC.md §7): HMAC-SHA256 over customer, action, owner and
//! expiry, with a secret of their own.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// An action an email link can record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkAction {
    ReachedOut,
    WonBack,
    Lost,
    /// Undoes the one outcome named by the token's `t` (its audit `ts`, docs/SPEC.md §5); made
    /// by [`LinkSigner::sign_undo`] for the page shown after an email action is recorded.
    Undo,
}

impl LinkAction {
    /// The spelling used in tokens, `action_id`s and audit items.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkAction::ReachedOut => "reached_out",
            LinkAction::WonBack => "won_back",
            LinkAction::Lost => "lost",
            LinkAction::Undo => "undo",
        }
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaims {
    pub customer_id: String,
    pub action: LinkAction,
    pub owner: String,
    /// Unix seconds.
    pub expires: i64,
}

/// A verified token: its claims and, for an Undo link, the audit `ts` of the outcome it undoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLink {
    pub claims: LinkClaims,
    /// Set exactly when `claims.action` is [`LinkAction::Undo`].
    pub undoes: Option<String>,
}

/// Why a token was refused. Malformed and bad-signature links read the same to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link is not valid (it may have been cut short or changed)")]
    Malformed,
    #[error("this link is not valid (it may have been cut short or changed)")]
    BadSignature,
    #[error("this link has expired; use the newest Monday list")]
    Expired,
}

/// Days an email link stays valid.
pub const LINK_VALID_DAYS: i64 = 14;

/// Signs and verifies link tokens with one secret.
pub struct LinkSigner {
    key: Vec<u8>,
}

type HmacSha256 = Hmac<Sha256>;

/// The signed payload: short keys keep links short; JSON keeps the encoding unambiguous.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    c: String,
    a: LinkAction,
    o: String,
    e: i64,
    /// The outcome an Undo link undoes (its audit `ts`); absent for the other actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
}

/// Length of an HMAC-SHA256 tag in bytes.
const TAG_LEN: usize = 32;

impl LinkSigner {
    /// A signer for `secret` (the links' own secret, not shared with Slack or anything else).
    pub fn new(secret: &[u8]) -> Self {
        LinkSigner {
            key: secret.to_vec(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("HMAC takes keys of any length")
    }

    /// A URL-safe token (no padding): base64url(payload) `.` base64url(HMAC-SHA256(payload)),
    /// where the payload is compact JSON `{"c":customer,"a":action,"o":owner,"e":expires}`.
    pub fn sign(&self, claims: &LinkClaims) -> String {
        self.sign_payload(claims, None)
    }

    /// An Undo link's token: `claims.action` is taken as [`LinkAction::Undo`], and the payload
    /// also carries `"t"`, the audit `ts` of the outcome it undoes.
    pub fn sign_undo(&self, claims: &LinkClaims, undoes: &str) -> String {
        let claims = LinkClaims {
            action: LinkAction::Undo,
            ..claims.clone()
        };
        self.sign_payload(&claims, Some(undoes))
    }

    fn sign_payload(&self, claims: &LinkClaims, undoes: Option<&str>) -> String {
        let payload = Payload {
            c: claims.customer_id.clone(),
            a: claims.action,
            o: claims.owner.clone(),
            e: claims.expires,
            t: undoes.map(str::to_string),
        };
        let json =
            serde_json::to_vec(&payload).expect("a struct of strings and integers serialises");
        let mut mac = self.mac();
        mac.update(&json);
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", B64.encode(&json), B64.encode(tag))
    }

    /// Verifies signature (constant time) and expiry against `now` (unix seconds). A token is
    /// still valid at `now == expires`.
    pub fn verify(&self, token: &str, now: i64) -> Result<LinkClaims, LinkError> {
        self.verify_link(token, now).map(|v| v.claims)
    }

    /// [`LinkSigner::verify`], with the outcome an Undo link names. An Undo token without a
    /// `t`, or another action's token with one, is malformed.
    pub fn verify_link(&self, token: &str, now: i64) -> Result<VerifiedLink, LinkError> {
        let (payload_b64, tag_b64) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let payload = B64.decode(payload_b64).map_err(|_| LinkError::Malformed)?;
        let tag = B64.decode(tag_b64).map_err(|_| LinkError::Malformed)?;
        if payload.is_empty() || tag.len() != TAG_LEN {
            return Err(LinkError::Malformed);
        }
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag)
            .map_err(|_| LinkError::BadSignature)?;
        let p: Payload = serde_json::from_slice(&payload).map_err(|_| LinkError::Malformed)?;
        if (p.a == LinkAction::Undo) != p.t.as_deref().is_some_and(|t| !t.is_empty()) {
            return Err(LinkError::Malformed);
        }
        if now > p.e {
            return Err(LinkError::Expired);
        }
        Ok(VerifiedLink {
            claims: LinkClaims {
                customer_id: p.c,
                action: p.a,
                owner: p.o,
                expires: p.e,
            },
            undoes: p.t,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_764_000_000;

    fn claims(action: LinkAction) -> LinkClaims {
        LinkClaims {
            customer_id: "C-1042".into(),
            action,
            owner: "dana@example.com".into(),
            expires: NOW + LINK_VALID_DAYS * 86_400,
        }
    }

    fn signer() -> LinkSigner {
        LinkSigner::new(b"link secret for tests")
    }

    #[test]
    fn round_trip_every_action() {
        let s = signer();
        for a in [
            LinkAction::ReachedOut,
            LinkAction::WonBack,
            LinkAction::Lost,
        ] {
            let c = claims(a);
            assert_eq!(s.verify(&s.sign(&c), NOW), Ok(c));
        }
    }

    #[test]
    fn undo_links_name_their_outcome() {
        let s = signer();
        let c = claims(LinkAction::WonBack);
        let t = s.sign_undo(&c, "2026-11-23T10:00:00.000000001Z");
        let v = s.verify_link(&t, NOW).unwrap();
        assert_eq!(v.claims.action, LinkAction::Undo);
        assert_eq!(v.claims.customer_id, c.customer_id);
        assert_eq!(v.undoes.as_deref(), Some("2026-11-23T10:00:00.000000001Z"));
        assert_eq!(s.verify_link(&s.sign(&c), NOW).unwrap().undoes, None);
        // An Undo without its outcome, or an outcome link with one, is malformed.
        let undo = LinkClaims {
            action: LinkAction::Undo,
            ..c.clone()
        };
        assert_eq!(s.verify(&s.sign(&undo), NOW), Err(LinkError::Malformed));
        assert_eq!(
            s.verify(&s.sign_payload(&c, Some("x")), NOW),
            Err(LinkError::Malformed)
        );
    }

    #[test]
    fn round_trip_unusual_text() {
        let s = signer();
        let c = LinkClaims {
            customer_id: "id \"with\" quotes, dots. and 🙂 {}".into(),
            action: LinkAction::Lost,
            owner: "".into(),
            expires: -5,
        };
        assert_eq!(s.verify(&s.sign(&c), -5), Ok(c));
    }

    #[test]
    fn payload_is_compact_json() {
        let token = signer().sign(&claims(LinkAction::WonBack));
        let (p, _) = token.split_once('.').unwrap();
        let json = B64.decode(p).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"c":"C-1042","a":"won_back","o":"dana@example.com","e":1765209600}"#
        );
    }

    #[test]
    fn token_is_url_safe() {
        let s = signer();
        for i in 0..50 {
            let mut c = claims(LinkAction::ReachedOut);
            c.customer_id = format!("cust/{i}?+&=~ {}", "é".repeat(i));
            let t = s.sign(&c);
            assert!(
                t.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.'),
                "{t}"
            );
            assert_eq!(t.matches('.').count(), 1);
        }
    }

    #[test]
    fn tampered_payload_byte_is_refused() {
        let s = signer();
        let t = s.sign(&claims(LinkAction::ReachedOut));
        let (p, sig) = t.split_once('.').unwrap();
        let mut bytes = B64.decode(p).unwrap();
        // Change the customer id: C-1042 → C-1043.
        let i = bytes.iter().position(|&b| b == b'2').unwrap();
        bytes[i] = b'3';
        let forged = format!("{}.{}", B64.encode(&bytes), sig);
        assert_eq!(s.verify(&forged, NOW), Err(LinkError::BadSignature));
    }

    #[test]
    fn tampered_signature_is_refused() {
        let s = signer();
        let t = s.sign(&claims(LinkAction::ReachedOut));
        let (p, sig) = t.split_once('.').unwrap();
        let mut tag = B64.decode(sig).unwrap();
        tag[0] ^= 1;
        let forged = format!("{}.{}", p, B64.encode(&tag));
        assert_eq!(s.verify(&forged, NOW), Err(LinkError::BadSignature));
    }

    #[test]
    fn signature_from_another_token_is_refused() {
        let s = signer();
        let a = s.sign(&claims(LinkAction::ReachedOut));
        let b = s.sign(&claims(LinkAction::Lost));
        let (pa, _) = a.split_once('.').unwrap();
        let (_, sb) = b.split_once('.').unwrap();
        assert_eq!(
            s.verify(&format!("{pa}.{sb}"), NOW),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn other_key_is_refused() {
        let t = signer().sign(&claims(LinkAction::WonBack));
        assert_eq!(
            LinkSigner::new(b"another secret").verify(&t, NOW),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn expiry_is_inclusive() {
        let s = signer();
        let c = claims(LinkAction::WonBack);
        let t = s.sign(&c);
        assert_eq!(s.verify(&t, c.expires), Ok(c.clone()));
        assert_eq!(s.verify(&t, c.expires + 1), Err(LinkError::Expired));
    }

    #[test]
    fn garbage_is_malformed() {
        let s = signer();
        let t = s.sign(&claims(LinkAction::Lost));
        let (p, sig) = t.split_once('.').unwrap();
        let cases = [
            String::new(),
            ".".into(),
            "no-dot-here".into(),
            "abc.!!!".into(),
            "!!!.abc".into(),
            format!("{p}="),
            format!("{p}.{sig}="),
            format!("{p}.{sig}.extra"),
            format!("{p}.{}", &sig[..sig.len() - 4]),
            p.to_string(),
            format!("{p}+.{sig}"),
            t.replace('.', ""),
        ];
        for g in cases {
            assert_eq!(s.verify(&g, NOW), Err(LinkError::Malformed), "{g:?}");
        }
    }

    #[test]
    fn signed_non_payload_is_malformed() {
        // A correctly signed blob that is not our payload (e.g. a future format) is refused.
        let s = signer();
        let body = br#"{"c":"x","a":"delete_all","o":"o","e":1}"#;
        let mut mac = s.mac();
        mac.update(body);
        let t = format!(
            "{}.{}",
            B64.encode(body),
            B64.encode(mac.finalize().into_bytes())
        );
        assert_eq!(s.verify(&t, 0), Err(LinkError::Malformed));
    }

    proptest! {
        #[test]
        fn verify_never_panics(token in ".*", now in any::<i64>()) {
            let _ = signer().verify(&token, now);
        }

        #[test]
        fn verify_never_panics_on_token_like_input(
            a in "[A-Za-z0-9_=+/-]{0,120}",
            b in "[A-Za-z0-9_=+/-]{0,60}",
        ) {
            let _ = signer().verify(&format!("{a}.{b}"), NOW);
        }

        #[test]
        fn round_trips(c in ".{0,40}", o in ".{0,40}", e in any::<i64>()) {
            let s = signer();
            let claims = LinkClaims { customer_id: c, action: LinkAction::WonBack, owner: o, expires: e };
            prop_assert_eq!(s.verify(&s.sign(&claims), e), Ok(claims));
        }
    }
}
