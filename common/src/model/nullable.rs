//! Deserialisers for fields Kong lets a PATCH set to `null` although they have a default
//! (`PATCH /services/x {"retries": null}`). Kong stores the null and its runtime falls back to
//! the default; the typed model does the same when it reads such an entity.

use serde::{Deserialize, Deserializer};

/// `null` → `T::default()`, for fields whose Rust default is Kong's default.
pub(crate) fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `null` → `N`.
pub(crate) fn or_u32<'de, D: Deserializer<'de>, const N: u32>(
    deserializer: D,
) -> Result<u32, D::Error> {
    Ok(Option::<u32>::deserialize(deserializer)?.unwrap_or(N))
}

/// `null` → `N`.
pub(crate) fn or_u64<'de, D: Deserializer<'de>, const N: u64>(
    deserializer: D,
) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(deserializer)?.unwrap_or(N))
}

/// jwt_secrets `algorithm`: `null` → Kong's default `HS256`.
pub(crate) fn or_hs256<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_else(|| "HS256".to_owned()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::model::{JwtSecret, Target};

    const ID: &str = "8a388226-80e8-4027-a486-25e4f7db5d21";

    #[test]
    fn null_reads_as_kongs_default() {
        let target: Target = serde_json::from_value(
            json!({"id": ID, "upstream": {"id": ID}, "target": "a.test:80", "weight": null}),
        )
        .expect("a nulled weight is accepted");
        assert_eq!(target.weight, 100);
        let secret: JwtSecret = serde_json::from_value(
            json!({"id": ID, "consumer": {"id": ID}, "key": "k", "algorithm": null}),
        )
        .expect("a nulled algorithm is accepted");
        assert_eq!(secret.algorithm, "HS256");
    }
}
