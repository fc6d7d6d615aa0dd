//! The relying party's checks against responses of real authenticators: the fixtures are the
//! public test vectors of py_webauthn (Duo Labs, BSD-3-Clause), tests/test_verify_*.py, made
//! for the relying party `localhost` at `http://localhost:5000`.

use super::*;

fn b64(s: &str) -> Vec<u8> {
    decode_field("fixture", s).unwrap()
}

fn origins(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

const LOCAL: &[&str] = &["http://localhost:5000"];

/// A "none" attestation of an ES256 credential (sign count 23).
fn none_registration() -> RegistrationJson {
    serde_json::from_str(r#"{
        "id": "9y1xA8Tmg1FEmT-c7_fvWZ_uoTuoih3OvR45_oAK-cwHWhAbXrl2q62iLVTjiyEZ7O7n-CROOY494k7Q3xrs_w",
        "rawId": "9y1xA8Tmg1FEmT-c7_fvWZ_uoTuoih3OvR45_oAK-cwHWhAbXrl2q62iLVTjiyEZ7O7n-CROOY494k7Q3xrs_w",
        "response": {
            "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVjESZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAFwAAAAAAAAAAAAAAAAAAAAAAQPctcQPE5oNRRJk_nO_371mf7qE7qIodzr0eOf6ACvnMB1oQG165dqutoi1U44shGezu5_gkTjmOPeJO0N8a7P-lAQIDJiABIVggSFbUJF-42Ug3pdM8rDRFu_N5oiVEysPDB6n66r_7dZAiWCDUVnB39FlGypL-qAoIO9xWHtJygo2jfDmHl-_eKFRLDA",
            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiVHdON240V1R5R0tMYzRaWS1xR3NGcUtuSE00bmdscXN5VjBJQ0psTjJUTzlYaVJ5RnRya2FEd1V2c3FsLWdrTEpYUDZmbkYxTWxyWjUzTW00UjdDdnciLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
            "transports": ["nfc", "usb"]
        },
        "type": "public-key",
        "clientExtensionResults": {}
    }"#).unwrap()
}

fn register_with(
    origins_list: &[&str],
    rp_id: &str,
    require_uv: bool,
) -> Result<NewCredential, Refusal> {
    let reg = none_registration().decode().unwrap();
    let client = ClientData::parse(&reg.client_data_json, "webauthn.create")?;
    assert_eq!(
        client.challenge,
        b64("TwN7n4WTyGKLc4ZY-qGsFqKnHM4nglqsyV0ICJlN2TO9XiRyFtrkaDwUvsql-gkLJXP6fnF1MlrZ53Mm4R7Cvw")
    );
    let allowed = origins(origins_list);
    register(
        &client,
        &reg,
        &RelyingParty {
            id: rp_id,
            origins: &allowed,
        },
        require_uv,
    )
}

#[test]
fn a_none_attestation_registers_its_es256_key() {
    let cred = register_with(LOCAL, "localhost", false).unwrap();
    assert_eq!(
        cred.id,
        b64("9y1xA8Tmg1FEmT-c7_fvWZ_uoTuoih3OvR45_oAK-cwHWhAbXrl2q62iLVTjiyEZ7O7n-CROOY494k7Q3xrs_w")
    );
    assert_eq!(
        cred.public_key,
        b64("pQECAyYgASFYIEhW1CRfuNlIN6XTPKw0RbvzeaIlRMrDwwep-uq_-3WQIlgg1FZwd_RZRsqS_qgKCDvcVh7ScoKNo3w5h5fv3ihUSww")
    );
    assert_eq!(
        (cred.algorithm, cred.sign_count, cred.aaguid),
        (ES256, 23, [0; 16])
    );
    assert!(!cred.backup_eligible && !cred.backed_up);
    // One of several configured origins will do.
    assert!(register_with(
        &["https://foo.bar", "http://localhost:5000"],
        "localhost",
        false
    )
    .is_ok());
}

#[test]
fn a_registration_from_another_origin_or_for_another_rp_is_refused() {
    assert_eq!(
        register_with(&["https://chat.example.com"], "localhost", false).err(),
        Some(Refusal::WrongOrigin("http://localhost:5000".into()))
    );
    // The origin matches, the authenticator data is for `localhost`.
    assert_eq!(
        register_with(LOCAL, "example.com", false).err(),
        Some(Refusal::WrongRpId)
    );
    // Flags 0x45: present and verified, with a credential.
    assert!(register_with(LOCAL, "localhost", true).is_ok());
}

#[test]
fn a_registration_of_another_ceremony_or_credential_is_refused() {
    let reg = none_registration().decode().unwrap();
    assert!(matches!(
        ClientData::parse(&reg.client_data_json, "webauthn.get"),
        Err(Refusal::WrongCeremony)
    ));
    let mut json = none_registration();
    json.id = "AAAA".into();
    json.raw_id = None;
    let other = json.decode().unwrap();
    let client = ClientData::parse(&other.client_data_json, "webauthn.create").unwrap();
    let allowed = origins(LOCAL);
    assert!(matches!(
        register(&client, &other, &RelyingParty { id: "localhost", origins: &allowed }, false),
        Err(Refusal::Malformed(m)) if m.contains("not the one the client reported")
    ));
    let mut json = none_registration();
    json.raw_id = Some("AAAA".into());
    assert!(matches!(json.decode(), Err(Refusal::Malformed(m)) if m.contains("rawId")));
}

struct Vector {
    id: &'static str,
    authenticator_data: &'static str,
    client_data_json: &'static str,
    signature: &'static str,
    challenge: &'static str,
    public_key: &'static str,
    stored_count: u32,
}

const EC2: Vector = Vector {
    id: "EDx9FfAbp4obx6oll2oC4-CZuDidRVV4gZhxC529ytlnqHyqCStDUwfNdm1SNHAe3X5KvueWQdAX3x9R1a2b9Q",
    authenticator_data: "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MBAAAATg",
    client_data_json: "eyJjaGFsbGVuZ2UiOiJ4aTMwR1BHQUZZUnhWRHBZMXNNMTBEYUx6VlFHNjZudi1fN1JVYXpIMHZJMll2RzhMWWdERW52TjVmWlpOVnV2RUR1TWk5dGUzVkxxYjQyTjBma0xHQSIsImNsaWVudEV4dGVuc2lvbnMiOnt9LCJoYXNoQWxnb3JpdGhtIjoiU0hBLTI1NiIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6NTAwMCIsInR5cGUiOiJ3ZWJhdXRobi5nZXQifQ",
    signature: "MEUCIGisVZOBapCWbnJJvjelIzwpixxIwkjCCb5aCHafQu68AiEA88v-2pJNNApPFwAKFiNuf82-2hBxYW5kGwVweeoxCwo",
    challenge: "xi30GPGAFYRxVDpY1sM10DaLzVQG66nv-_7RUazH0vI2YvG8LYgDEnvN5fZZNVuvEDuMi9te3VLqb42N0fkLGA",
    public_key: "pQECAyYgASFYIIeDTe-gN8A-zQclHoRnGFWN8ehM1b7yAsa8I8KIvmplIlgg4nFGT5px8o6gpPZZhO01wdy9crDSA_Ngtkx0vGpvPHI",
    stored_count: 77,
};

const RSA: Vector = Vector {
    id: "ZoIKP1JQvKdrYj1bTUPJ2eTUsbLeFkv-X5xJQNr4k6s",
    authenticator_data: "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ",
    client_data_json: "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiaVBtQWkxUHAxWEw2b0FncTNQV1p0WlBuWmExekZVRG9HYmFRMF9LdlZHMWxGMnMzUnRfM280dVN6Y2N5MHRtY1RJcFRUVDRCVTFULUk0bWFhdm5kalEiLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
    signature: "iOHKX3erU5_OYP_r_9HLZ-CexCE4bQRrxM8WmuoKTDdhAnZSeTP0sjECjvjfeS8MJzN1ArmvV0H0C3yy_FdRFfcpUPZzdZ7bBcmPh1XPdxRwY747OrIzcTLTFQUPdn1U-izCZtP_78VGw9pCpdMsv4CUzZdJbEcRtQuRS03qUjqDaovoJhOqEBmxJn9Wu8tBi_Qx7A33RbYjlfyLm_EDqimzDZhyietyop6XUcpKarKqVH0M6mMrM5zTjp8xf3W7odFCadXEJg-ERZqFM0-9Uup6kJNLbr6C5J4NDYmSm3HCSA6lp2iEiMPKU8Ii7QZ61kybXLxsX4w4Dm3fOLjmDw",
    challenge: "iPmAi1Pp1XL6oAgq3PWZtZPnZa1zFUDoGbaQ0_KvVG1lF2s3Rt_3o4uSzccy0tmcTIpTTT4BU1T-I4maavndjQ",
    public_key: "pAEDAzkBACBZAQDfV20epzvQP-HtcdDpX-cGzdOxy73WQEvsU7Dnr9UWJophEfpngouvgnRLXaEUn_d8HGkp_HIx8rrpkx4BVs6X_B6ZjhLlezjIdJbLbVeb92BaEsmNn1HW2N9Xj2QM8cH-yx28_vCjf82ahQ9gyAr552Bn96G22n8jqFRQKdVpO-f-bvpvaP3IQ9F5LCX7CUaxptgbog1SFO6FI6ob5SlVVB00lVXsaYg8cIDZxCkkENkGiFPgwEaZ7995SCbiyCpUJbMqToLMgojPkAhWeyktu7TlK6UBWdJMHc3FPAIs0lH_2_2hKS-mGI1uZAFVAfW1X-mzKL0czUm2P1UlUox7IUMBAAE",
    stored_count: 0,
};

const OKP: Vector = Vector {
    id: "fq9Nj0nS24B5y6Pkw_h3-9GEAEA3-0LBPxE2zvTdLjDqtSeCSNYFe9VMRueSpAZxT3YDc6L1lWXdQNwI-sVNYrefEcRR1Nsb_0jpHE955WEtFud2xxZg3MvoLMxHLet63i5tajd1fHtP7I-00D6cehM8ZWlLp2T3s9lfZgVIFcA",
    authenticator_data: "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MBAAAABw",
    client_data_json: "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiZVo0ZWVBM080ank1Rkl6cURhU0o2SkROR3UwYkJjNXpJMURqUV9rTHNvMVdOcWtHNms1bUNZZjFkdFFoVlVpQldaV2xaa3pSNU1GZWVXQ3BKUlVOWHciLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
    signature: "RRWV8mYDRvK7YdQgdtZD4pJ2dh1D_IWZ_D6jsZo6FHJBoenbj0CVT5nA20vUzlRhN4R6dOEUHmUwP1F8eRBhBg",
    challenge: "eZ4eeA3O4jy5FIzqDaSJ6JDNGu0bBc5zI1DjQ_kLso1WNqkG6k5mCYf1dtQhVUiBWZWlZkzR5MFeeWCpJRUNXw",
    public_key: "pAEBAycgBiFYIMz6_SUFLiDid2Yhlq0YboyJ-CDrIrNpkPUGmJp4D3Dp",
    stored_count: 3,
};

fn assertion_json(v: &Vector) -> AssertionJson {
    serde_json::from_value(serde_json::json!({
        "id": v.id, "rawId": v.id, "type": "public-key",
        "response": {
            "authenticatorData": v.authenticator_data,
            "clientDataJSON": v.client_data_json,
            "signature": v.signature,
        },
        "clientExtensionResults": {},
    }))
    .unwrap()
}

fn check(
    v: &Vector,
    public_key: &str,
    stored_count: u32,
    require_uv: bool,
    allowed: &[&str],
) -> Result<Asserted, Refusal> {
    let assertion = assertion_json(v).decode().unwrap();
    assert_eq!(assertion.credential_id, b64(v.id));
    let client = ClientData::parse(&assertion.client_data_json, "webauthn.get")?;
    assert_eq!(client.challenge, b64(v.challenge));
    let key = b64(public_key);
    let allowed = origins(allowed);
    authenticate(
        &client,
        &assertion,
        &StoredCredential {
            public_key: &key,
            sign_count: stored_count,
            backup_eligible: false,
        },
        &RelyingParty {
            id: "localhost",
            origins: &allowed,
        },
        require_uv,
    )
}

#[test]
fn assertions_verify_under_es256_rs256_and_ed25519_keys() {
    let ec2 = check(&EC2, EC2.public_key, EC2.stored_count, false, LOCAL).unwrap();
    assert_eq!((ec2.sign_count, ec2.user_verified), (78, false));
    let rsa = check(&RSA, RSA.public_key, RSA.stored_count, true, LOCAL).unwrap();
    assert_eq!((rsa.sign_count, rsa.user_verified), (1, true));
    let okp = check(&OKP, OKP.public_key, OKP.stored_count, false, LOCAL).unwrap();
    assert_eq!(okp.sign_count, 7);
    for (v, alg) in [(&EC2, ES256), (&RSA, RS256), (&OKP, EDDSA)] {
        assert_eq!(
            CredentialKey::from_cose(&b64(v.public_key))
                .unwrap()
                .algorithm,
            alg
        );
    }
}

#[test]
fn an_assertion_under_another_key_or_with_a_changed_signature_is_refused() {
    assert_eq!(
        check(&EC2, RSA.public_key, 0, false, LOCAL).err(),
        Some(Refusal::BadSignature)
    );
    assert_eq!(
        check(&OKP, EC2.public_key, 0, false, LOCAL).err(),
        Some(Refusal::BadSignature)
    );
    let mut json = assertion_json(&EC2);
    let mut sig = b64(EC2.signature);
    let last = sig.len() - 1;
    sig[last] ^= 1;
    json.response.signature = crate::crypto::b64url(&sig);
    let assertion = json.decode().unwrap();
    let client = ClientData::parse(&assertion.client_data_json, "webauthn.get").unwrap();
    let key = b64(EC2.public_key);
    let allowed = origins(LOCAL);
    assert_eq!(
        authenticate(
            &client,
            &assertion,
            &StoredCredential {
                public_key: &key,
                sign_count: 0,
                backup_eligible: false
            },
            &RelyingParty {
                id: "localhost",
                origins: &allowed
            },
            false,
        )
        .err(),
        Some(Refusal::BadSignature)
    );
}

#[test]
fn an_assertion_for_another_origin_or_without_verification_when_required_is_refused() {
    assert_eq!(
        check(&EC2, EC2.public_key, 0, false, &["http://localhost:8787"]).err(),
        Some(Refusal::WrongOrigin("http://localhost:5000".into()))
    );
    // Flags 0x01: present, not verified.
    assert_eq!(
        check(&EC2, EC2.public_key, 0, true, LOCAL).err(),
        Some(Refusal::UserNotVerified)
    );
}

#[test]
fn a_signature_counter_that_does_not_move_forward_is_refused() {
    // The authenticator says 78.
    assert!(check(&EC2, EC2.public_key, 77, false, LOCAL).is_ok());
    for stored in [78, 79, 1000] {
        assert_eq!(
            check(&EC2, EC2.public_key, stored, false, LOCAL).err(),
            Some(Refusal::CounterRegressed {
                stored,
                presented: 78
            }),
            "{stored}"
        );
    }
    assert!(
        next_sign_count(0, 0).is_ok(),
        "authenticators that do not count"
    );
    assert!(next_sign_count(0, 1).is_ok());
    assert!(
        next_sign_count(5, 0).is_err(),
        "a counter that went back to zero"
    );
}

#[test]
fn authenticator_data_must_be_whole_and_nothing_more() {
    let good = b64(EC2.authenticator_data);
    assert!(AuthenticatorData::parse(&good).is_ok());
    assert!(matches!(
        AuthenticatorData::parse(&good[..36]),
        Err(Refusal::Malformed(_))
    ));
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        AuthenticatorData::parse(&longer),
        Err(Refusal::Malformed(_))
    ));
    // The AT flag without attested credential data.
    let mut at = good;
    at[32] |= AT;
    assert!(matches!(
        AuthenticatorData::parse(&at),
        Err(Refusal::Malformed(_))
    ));
}

#[test]
fn only_supported_keys_are_read() {
    // A P-256 key that names ES384 (-35): the algorithm decides.
    let mut key = b64(EC2.public_key);
    let at = key.windows(2).position(|w| w == [0x03, 0x26]).unwrap();
    key[at + 1] = 0x38;
    key.insert(at + 2, 0x22);
    assert!(matches!(
        CredentialKey::from_cose(&key),
        Err(Refusal::UnsupportedKey(_))
    ));
    assert!(matches!(
        CredentialKey::from_cose(b"\xa0"),
        Err(Refusal::Malformed(_) | Refusal::UnsupportedKey(_))
    ));
    assert!(CredentialKey::from_cose(b"\xff").is_err());
}

#[test]
fn relying_party_ids_are_domains_and_origins_are_exact() {
    for ok in [
        "localhost",
        "example.com",
        "chat.example.co.uk",
        "xn--bcher-kva.example",
    ] {
        assert!(is_valid_rp_id(ok), "{ok}");
    }
    for bad in [
        "",
        "127.0.0.1",
        "10.0.0.1",
        "https://example.com",
        "example.com:443",
        "-a.com",
        "a..b",
        "[::1]",
    ] {
        assert!(!is_valid_rp_id(bad), "{bad}");
    }
    for ok in [
        "http://localhost:8787",
        "https://chat.example.com",
        "http://127.0.0.1:8787",
    ] {
        assert!(is_valid_origin(ok), "{ok}");
    }
    for bad in [
        "localhost:8787",
        "https://chat.example.com/",
        "https://Chat.example.com",
        "ftp://x.com",
        "https://x.com:",
        "https://x.com:99999999",
    ] {
        assert!(!is_valid_origin(bad), "{bad}");
    }
}

#[test]
fn the_operators_settings_are_a_domain_and_exact_origins() {
    assert_eq!(Settings::parse(None, None), Ok(Settings::default()));
    assert_eq!(
        Settings::parse(Some(" "), Some(" , ")),
        Ok(Settings::default())
    );
    let s = Settings::parse(
        Some("localhost"),
        Some("http://localhost:8787, http://127.0.0.1:8787"),
    )
    .unwrap();
    assert_eq!(s.rp_id.as_deref(), Some("localhost"));
    assert_eq!(
        s.origins,
        ["http://localhost:8787", "http://127.0.0.1:8787"]
    );
    assert!(Settings::parse(Some("127.0.0.1"), None)
        .unwrap_err()
        .contains("WEBAUTHN_RP_ID"));
    assert!(Settings::parse(None, Some("https://a.example/"))
        .unwrap_err()
        .contains("WEBAUTHN_ORIGINS"));
}

#[test]
fn extensions_after_the_credential_are_read_past_and_nothing_else_is_allowed() {
    let reg = none_registration().decode().unwrap();
    let (object, _) = cbor_item(&reg.attestation_object).unwrap();
    let Value::Map(entries) = object else {
        panic!("a map")
    };
    let auth_data = entries
        .iter()
        .find_map(|(k, v)| match (k.as_text(), v) {
            (Some("authData"), Value::Bytes(b)) => Some(b.clone()),
            _ => None,
        })
        .unwrap();
    let plain = AuthenticatorData::parse(&auth_data).unwrap();
    // The same data with extensions ({"credProtect": 1}) after the key, and the ED flag.
    let mut with_ext = auth_data.clone();
    with_ext[32] |= ED;
    with_ext.extend([0xa1, 0x6b]);
    with_ext.extend(b"credProtect");
    with_ext.push(0x01);
    let parsed = AuthenticatorData::parse(&with_ext).unwrap();
    let (a, b) = (plain.attested.unwrap(), parsed.attested.unwrap());
    assert_eq!(
        a.public_key, b.public_key,
        "the key ends where its CBOR ends"
    );
    assert_eq!(a.id, b.id);
    // Extensions without the flag, or the flag without extensions: refused.
    let mut unflagged = with_ext.clone();
    unflagged[32] &= !ED;
    assert!(matches!(
        AuthenticatorData::parse(&unflagged),
        Err(Refusal::Malformed(_))
    ));
    let mut flagged = auth_data;
    flagged[32] |= ED;
    assert!(matches!(
        AuthenticatorData::parse(&flagged),
        Err(Refusal::Malformed(_))
    ));
}
