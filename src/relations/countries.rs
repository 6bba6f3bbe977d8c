//! The country named in a free-text mailing address (json_to_relation's n-gram match of
//! `/create_account` addresses), as an ISO 3166 alpha-3 code.

use std::sync::LazyLock;

/// Country names (lowercase) and common short forms, longest first so that "United Arab
/// Emirates" wins over "Emirates" and "Guinea-Bissau" over "Guinea".
static NAMES: LazyLock<Vec<(String, &'static str)>> = LazyLock::new(|| {
    let mut names: Vec<(String, &'static str)> = isocountry::CountryCode::iter()
        .map(|c| (c.name().to_lowercase(), c.alpha3()))
        .collect();
    for (alias, code) in [
        ("usa", "USA"),
        ("u.s.a.", "USA"),
        ("united states", "USA"),
        ("uk", "GBR"),
        ("united kingdom", "GBR"),
        ("england", "GBR"),
        ("scotland", "GBR"),
        ("wales", "GBR"),
        ("uae", "ARE"),
        ("united arab emirates", "ARE"),
        ("russia", "RUS"),
        ("south korea", "KOR"),
        ("korea", "KOR"),
        ("vietnam", "VNM"),
        ("iran", "IRN"),
        ("syria", "SYR"),
        ("bolivia", "BOL"),
        ("venezuela", "VEN"),
        ("tanzania", "TZA"),
        ("taiwan", "TWN"),
        ("czech republic", "CZE"),
        ("holland", "NLD"),
    ] {
        names.push((alias.to_string(), code));
    }
    names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    names
});

/// The alpha-3 code of the first country named in `address` (whole words, case-insensitive).
pub fn find_country(address: &str) -> Option<String> {
    let lower = address.to_lowercase();
    let is_word_edge = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    NAMES.iter().find_map(|(name, code)| {
        lower.match_indices(name.as_str()).find_map(|(i, _)| {
            let before = lower[..i].chars().next_back();
            let after = lower[i + name.len()..].chars().next();
            (is_word_edge(before) && is_word_edge(after)).then(|| code.to_string())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_in_addresses() {
        assert_eq!(
            find_country("12 Main St, Dubai, United Arab Emirates").as_deref(),
            Some("ARE")
        );
        assert_eq!(
            find_country("Calle 5, Bogota, Colombia").as_deref(),
            Some("COL")
        );
        assert_eq!(
            find_country("3 rue X, 75001 Paris, FRANCE").as_deref(),
            Some("FRA")
        );
        assert_eq!(find_country("Springfield 12345"), None);
    }
}
